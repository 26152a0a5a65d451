"""Typed FastAPI dependencies: the app's services live on `app.state.services`, set by `create_app`."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from admin_ui.audited import TOKEN_ACTOR, AuditedCache, AuditedKeys, AuditedRegistry, AuditedUsers, AuditTrail
from admin_ui.ports import (
    AuditPort,
    CachePort,
    KeysPort,
    RegistrationsPort,
    RegistryPort,
    TrafficStatsPort,
    UsagePort,
    UsersPort,
    XdsStatusPort,
)

__all__ = [
    "AdminAuth",
    "AuditDep",
    "CacheDep",
    "KeysDep",
    "RegistrarAuth",
    "RegistrationsDep",
    "RegistryDep",
    "Services",
    "TrafficDep",
    "UsageDep",
    "UsersDep",
    "XdsStatusDep",
    "audited_services",
    "require_admin",
    "require_registrar",
    "services_for",
]


@dataclass(frozen=True, slots=True)
class Services:
    registry: RegistryPort
    xds_status: XdsStatusPort
    keys: KeysPort
    usage: UsagePort
    admin_token: str = field(repr=False)
    registrations: RegistrationsPort | None = None
    registration_token: str = field(default="", repr=False)  # "" = only the admin token registers
    cache: CachePort | None = None
    users: UsersPort | None = None
    audit: AuditPort | None = None  # None: changes are not audited (tests that do not look)
    traffic: TrafficStatsPort | None = None  # None: the dashboard shows no traffic charts


def audited_services(services: Services, actor: Callable[[], str]) -> Services:
    """`services` with every write port recording its changes under `actor()` (see admin_ui.audited)."""
    if services.audit is None:
        return services
    trail = AuditTrail(services.audit, actor)
    return replace(
        services,
        registry=AuditedRegistry(services.registry, trail),
        keys=AuditedKeys(services.keys, trail),
        cache=AuditedCache(services.cache, trail) if services.cache is not None else None,
        users=AuditedUsers(services.users, trail) if services.users is not None else None,
    )


def services_for(request: Request) -> Services:
    """The app's services for this request, audited under `request.state.actor` (set by the auth
    dependency: `token` for the admin token, the username for a UI session)."""
    cached = getattr(request.state, "services", None)
    if isinstance(cached, Services):
        return cached
    services: Services = request.app.state.services
    state = request.state
    audited = audited_services(services, lambda: str(getattr(state, "actor", TOKEN_ACTOR)))
    request.state.services = audited
    return audited


_bearer = HTTPBearer(auto_error=False)


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    expected = services_for(request).admin_token.encode()
    presented = credentials.credentials.encode() if credentials else b""
    if not hmac.compare_digest(presented, expected):
        raise HTTPException(
            status_code=401,
            detail="a valid admin token is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.actor = TOKEN_ACTOR


def require_registrar(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The admin token, or the registration token (which opens the /registrations routes only)."""
    services = services_for(request)
    presented = credentials.credentials.encode() if credentials else b""
    admin_ok = hmac.compare_digest(presented, services.admin_token.encode())
    registrar_ok = bool(services.registration_token) and hmac.compare_digest(
        presented, services.registration_token.encode()
    )
    if not (admin_ok or registrar_ok):
        raise HTTPException(
            status_code=401,
            detail="a valid admin or registration token is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.actor = TOKEN_ACTOR if admin_ok else "registration-token"


def _registrations(request: Request) -> RegistrationsPort:
    registrations = services_for(request).registrations
    if registrations is None:
        raise HTTPException(status_code=503, detail="self-registration is not configured on this server")
    return registrations


def _cache(request: Request) -> CachePort:
    cache = services_for(request).cache
    if cache is None:
        raise HTTPException(status_code=503, detail="the response cache is not configured on this server")
    return cache


def _users(request: Request) -> UsersPort:
    users = services_for(request).users
    if users is None:
        raise HTTPException(status_code=503, detail="admin UI users are not configured on this server")
    return users


def _audit(request: Request) -> AuditPort:
    audit = services_for(request).audit
    if audit is None:
        raise HTTPException(status_code=503, detail="the audit log is not configured on this server")
    return audit


def _traffic(request: Request) -> TrafficStatsPort:
    traffic = services_for(request).traffic
    if traffic is None:
        raise HTTPException(status_code=503, detail="traffic statistics are not configured on this server")
    return traffic


def _registry(request: Request) -> RegistryPort:
    return services_for(request).registry


def _xds_status(request: Request) -> XdsStatusPort:
    return services_for(request).xds_status


def _keys(request: Request) -> KeysPort:
    return services_for(request).keys


def _usage(request: Request) -> UsagePort:
    return services_for(request).usage


AdminAuth = Depends(require_admin)
RegistryDep = Annotated[RegistryPort, Depends(_registry)]
XdsStatusDep = Annotated[XdsStatusPort, Depends(_xds_status)]
KeysDep = Annotated[KeysPort, Depends(_keys)]
UsageDep = Annotated[UsagePort, Depends(_usage)]
RegistrarAuth = Depends(require_registrar)
RegistrationsDep = Annotated[RegistrationsPort, Depends(_registrations)]
CacheDep = Annotated[CachePort, Depends(_cache)]
UsersDep = Annotated[UsersPort, Depends(_users)]
AuditDep = Annotated[AuditPort, Depends(_audit)]
TrafficDep = Annotated[TrafficStatsPort, Depends(_traffic)]

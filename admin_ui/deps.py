"""Typed FastAPI dependencies: the app's services live on `app.state.services`, set by `create_app`."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from admin_ui.ports import (
    CachePort,
    KeysPort,
    RegistrationsPort,
    RegistryPort,
    UsagePort,
    UsersPort,
    XdsStatusPort,
)

__all__ = [
    "AdminAuth",
    "CacheDep",
    "KeysDep",
    "RegistrarAuth",
    "RegistrationsDep",
    "RegistryDep",
    "Services",
    "UsageDep",
    "UsersDep",
    "XdsStatusDep",
    "require_admin",
    "require_registrar",
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


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


_bearer = HTTPBearer(auto_error=False)


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    expected = _services(request).admin_token.encode()
    presented = credentials.credentials.encode() if credentials else b""
    if not hmac.compare_digest(presented, expected):
        raise HTTPException(
            status_code=401,
            detail="a valid admin token is required (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_registrar(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The admin token, or the registration token (which opens the /registrations routes only)."""
    services = _services(request)
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


def _registrations(request: Request) -> RegistrationsPort:
    registrations = _services(request).registrations
    if registrations is None:
        raise HTTPException(status_code=503, detail="self-registration is not configured on this server")
    return registrations


def _cache(request: Request) -> CachePort:
    cache = _services(request).cache
    if cache is None:
        raise HTTPException(status_code=503, detail="the response cache is not configured on this server")
    return cache


def _users(request: Request) -> UsersPort:
    users = _services(request).users
    if users is None:
        raise HTTPException(status_code=503, detail="admin UI users are not configured on this server")
    return users


def _registry(request: Request) -> RegistryPort:
    return _services(request).registry


def _xds_status(request: Request) -> XdsStatusPort:
    return _services(request).xds_status


def _keys(request: Request) -> KeysPort:
    return _services(request).keys


def _usage(request: Request) -> UsagePort:
    return _services(request).usage


AdminAuth = Depends(require_admin)
RegistryDep = Annotated[RegistryPort, Depends(_registry)]
XdsStatusDep = Annotated[XdsStatusPort, Depends(_xds_status)]
KeysDep = Annotated[KeysPort, Depends(_keys)]
UsageDep = Annotated[UsagePort, Depends(_usage)]
RegistrarAuth = Depends(require_registrar)
RegistrationsDep = Annotated[RegistrationsPort, Depends(_registrations)]
CacheDep = Annotated[CachePort, Depends(_cache)]
UsersDep = Annotated[UsersPort, Depends(_users)]

"""Typed FastAPI dependencies: the app's services live on `app.state.services`, set by `create_app`."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from admin_ui.ports import KeysPort, RegistryPort, UsagePort, XdsStatusPort

__all__ = [
    "AdminAuth",
    "KeysDep",
    "RegistryDep",
    "Services",
    "UsageDep",
    "XdsStatusDep",
    "require_admin",
]


@dataclass(frozen=True, slots=True)
class Services:
    registry: RegistryPort
    xds_status: XdsStatusPort
    keys: KeysPort
    usage: UsagePort
    admin_token: str = field(repr=False)


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

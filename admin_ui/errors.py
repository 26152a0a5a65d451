"""The admin process's one error → response mapping (OpenAI-style error bodies)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from control_plane.errors import (
    AdminUserExistsError,
    AdminUserNotFoundError,
    AdminUserValidationError,
    KeyNotFoundError,
    KeyStateError,
    KeyValidationError,
    RegistryConflictError,
    RegistryNotFoundError,
    RegistryValidationError,
    SecretKeyError,
    SecretUnreadableError,
    StoreUnavailableError,
    TollwayError,
    UsagePeriodError,
)

__all__ = ["error_body", "install_error_handlers"]

_log = logging.getLogger(__name__)

# (status, type, code) per error class; the first match in the MRO wins.
_MAPPING: dict[type[TollwayError], tuple[int, str, str]] = {
    RegistryValidationError: (422, "invalid_request_error", "validation_failed"),
    AdminUserValidationError: (422, "invalid_request_error", "validation_failed"),
    AdminUserNotFoundError: (404, "invalid_request_error", "not_found"),
    AdminUserExistsError: (409, "conflict_error", "already_exists"),
    RegistryNotFoundError: (404, "invalid_request_error", "not_found"),
    RegistryConflictError: (409, "conflict_error", "conflict"),
    KeyValidationError: (422, "invalid_request_error", "validation_failed"),
    KeyNotFoundError: (404, "invalid_request_error", "not_found"),
    KeyStateError: (409, "conflict_error", "invalid_key_state"),
    UsagePeriodError: (422, "invalid_request_error", "validation_failed"),
    StoreUnavailableError: (503, "service_unavailable", "store_unavailable"),
    SecretKeyError: (503, "service_unavailable", "secret_key_unset"),
    SecretUnreadableError: (500, "server_error", "secret_unreadable"),
}


def error_body(message: str, type_: str, code: str, param: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": type_, "code": code, "param": param}}


def _tollway_error(_request: Request, exc: Exception) -> JSONResponse:
    for cls in type(exc).__mro__:
        if cls in _MAPPING:
            status, type_, code = _MAPPING[cls]
            return JSONResponse(error_body(str(exc), type_, code), status_code=status)
    _log.error("unmapped control-plane error %s", type(exc).__name__)
    return JSONResponse(error_body("internal error", "server_error", "internal_error"), status_code=500)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    param = None
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        param = param or (".".join(loc) or None)
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        problems.append(f"{'.'.join(loc)}: {message}" if loc else message)
    body = error_body("; ".join(problems), "invalid_request_error", "validation_failed", param)
    return JSONResponse(body, status_code=422)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    codes = {401: "invalid_admin_token", 404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    type_ = "authentication_error" if exc.status_code == 401 else "invalid_request_error"
    headers = dict(exc.headers or {})
    return JSONResponse(
        error_body(str(exc.detail), type_, code), status_code=exc.status_code, headers=headers
    )


def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unexpected error in the admin API", exc_info=exc)
    return JSONResponse(error_body("internal error", "server_error", "internal_error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TollwayError, _tollway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)

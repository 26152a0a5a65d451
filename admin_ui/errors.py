"""The admin process's one error → response mapping (OpenAI-style error bodies)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from admin_ui.web.context import SESSION_COOKIE, UI_PATH, render
from admin_ui.web.sessions import Session
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


async def _tollway_error(request: Request, exc: Exception) -> Response:
    for cls in type(exc).__mro__:
        if cls in _MAPPING:
            status, type_, code = _MAPPING[cls]
            if _is_ui(request):
                shown = str(exc) if status < 500 else None  # a server-side failure's text stays in the log
                return await _ui_error(request, status if status in _UI_TITLES else 500, shown)
            return JSONResponse(error_body(str(exc), type_, code), status_code=status)
    _log.error("unmapped control-plane error %s", type(exc).__name__)
    if _is_ui(request):
        return await _ui_error(request, 500)
    return JSONResponse(error_body("internal error", "server_error", "internal_error"), status_code=500)


_UI_TITLES = {
    400: "Bad request",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    422: "Bad request",
    500: "Error",
    503: "Service unavailable",
}
_UI_MESSAGES = {
    500: "Something went wrong on the server. Try again; if it persists, the admin log says more.",
    503: "A data store is unreachable. Try again soon.",
    404: "There is no such page.",
    405: "This address only accepts a form; go back to the page and use its buttons.",
}


def _is_ui(request: Request) -> bool:
    return request.url.path == UI_PATH or request.url.path.startswith(UI_PATH + "/")


async def _ui_session(request: Request) -> Session | None:
    """The signed-in session for the error page's header, if there is one (never raises)."""
    session = getattr(request.state, "session", None)
    web = getattr(request.app.state, "web", None)
    if isinstance(session, Session) or web is None:
        return session if isinstance(session, Session) else None
    try:
        loaded: Session | None = await web.sessions.load(request.cookies.get(SESSION_COOKIE))
        return loaded
    except Exception:  # noqa: BLE001 - an error page must not fail on the session store
        return None


async def _ui_error(request: Request, status: int, message: str | None = None) -> Response:
    """The browser UI's own error page (HTML, never JSON) for a refusal under `/ui`; `message` is a
    domain error's own text (written for clients), else a fixed one."""
    session = await _ui_session(request)
    message = message or _UI_MESSAGES.get(status, "This request is not valid. Go back and try again.")
    context = {"title": _UI_TITLES.get(status, "Error"), "error": message}
    return render(request, "error.html", context, status_code=status, session=session)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _is_ui(request):
        return await _ui_error(request, 422)
    problems = []
    param = None
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        param = param or (".".join(loc) or None)
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        problems.append(f"{'.'.join(loc)}: {message}" if loc else message)
    body = error_body("; ".join(problems), "invalid_request_error", "validation_failed", param)
    return JSONResponse(body, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _is_ui(request) and exc.status_code in _UI_TITLES:
        return await _ui_error(request, exc.status_code)
    codes = {401: "invalid_admin_token", 404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    type_ = "authentication_error" if exc.status_code == 401 else "invalid_request_error"
    headers = dict(exc.headers or {})
    return JSONResponse(
        error_body(str(exc.detail), type_, code), status_code=exc.status_code, headers=headers
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    _log.exception("unexpected error in the admin API", exc_info=exc)
    if _is_ui(request):
        return await _ui_error(request, 500)
    return JSONResponse(error_body("internal error", "server_error", "internal_error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TollwayError, _tollway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)

"""The admin UI's server-rendered pages under `/ui`: sign-in and sign-out (the dashboard and the other
pages are in `admin_ui.web.pages`).

Signing in: `GET /ui/login` sets a signed double-submit CSRF token (cookie `tollway_login_csrf` and a
hidden field); `POST /ui/login` checks it, then the throttle, then the password, and on success sets the
opaque `tollway_session` cookie (a browser-session cookie: no Max-Age; Redis ends the session). Every
form posted while signed in carries the session's own CSRF token. Cookies are HttpOnly, SameSite=Strict,
scoped to `/ui` and `Secure` per `WebServices.cookie_secure`.

Neither passwords nor cookie values nor tokens are logged; a failed sign-in is logged without the
username (people type passwords into that field).
"""

from __future__ import annotations

import logging
import math
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from admin_ui.deps import services_for
from admin_ui.web.context import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    STATIC_DIR,
    UI_PATH,
    CurrentSession,
    SecurityHeaders,
    WebDep,
    WebServices,
    render,
)
from admin_ui.web.csrf import LOGIN_CSRF_MAX_AGE_S, csrf_ok
from admin_ui.web.guards import UiRoute
from admin_ui.web.pages import PAGE_ROUTERS

__all__ = ["install_ui", "router"]

_log = logging.getLogger(__name__)

WRONG_CREDENTIALS = "Wrong username or password."
BAD_LOGIN_CSRF = "Your sign-in form expired or did not come from this site. Please try again."
_MAX_USERNAME_CHARS = 256  # longer is nobody's username; the throttle counts its first 128 characters


router = APIRouter(prefix=UI_PATH, route_class=UiRoute, include_in_schema=False)


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def _set_cookie(response: Response, web: WebServices, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=UI_PATH,
        secure=web.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def _clear_cookie(response: Response, web: WebServices, name: str) -> None:
    response.delete_cookie(name, path=UI_PATH, secure=web.cookie_secure, httponly=True, samesite="strict")


def _login_page(
    request: Request,
    web: WebServices,
    *,
    status_code: int = 200,
    error: str | None = None,
    username: str = "",
    next_page: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    """The sign-in form with a fresh double-submit CSRF token (in the cookie and the hidden field)."""
    token = web.login_csrf.issue()
    response = render(
        request,
        "login.html",
        {"csrf": token, "error": error, "username": username, "next": _safe_next(next_page)},
        status_code=status_code,
    )
    _set_cookie(response, web, LOGIN_CSRF_COOKIE, token, LOGIN_CSRF_MAX_AGE_S)
    response.headers.update(headers or {})
    return response


def _wait_message(wait_s: int) -> str:
    minutes = max(1, math.ceil(wait_s / 60))
    return f"Too many attempts; try again in {minutes} minute{'s' if minutes != 1 else ''}."


def _safe_next(target: str) -> str:
    """Where to go after signing in: a page of this UI only (never another site), else ''."""
    local = target.startswith(f"{UI_PATH}/") and "\\" not in target and len(target) <= 2048
    return target if local and not target.startswith(f"{UI_PATH}/login") else ""


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@router.get("")
async def ui_root() -> Response:
    """`/ui` → `/ui/` (the dashboard)."""
    return _to(f"{UI_PATH}/")


@router.get("/login")
async def login_page(request: Request, web: WebDep, next: str = "") -> Response:
    """The sign-in form; `next` is the page to show after signing in."""
    return _login_page(request, web, next_page=next)


@router.post("/login")
async def login(
    request: Request,
    web: WebDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Sign in: CSRF, then the throttle, then the password; on success a session and 303 to `/ui/`."""
    if not web.login_csrf.verify(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
        _log.info("admin UI sign-in refused: a missing or invalid CSRF token")
        return _login_page(request, web, status_code=400, error=BAD_LOGIN_CSRF, next_page=next)
    name = username.strip().lower()[:_MAX_USERNAME_CHARS]
    ip = _client_ip(request)
    wait_s = await web.throttle.retry_after(name, ip)
    if wait_s > 0:
        _log.info("admin UI sign-in throttled (retry after %ds)", wait_s)
        return _login_page(
            request,
            web,
            status_code=429,
            error=_wait_message(wait_s),
            username=name,
            next_page=next,
            headers={"Retry-After": str(wait_s)},
        )
    users = services_for(request).users
    if users is None:
        return render(
            request,
            "error.html",
            {"title": "Sign-in unavailable", "error": "Admin UI users are not configured on this server."},
            status_code=503,
        )
    user = await users.authenticate(name, password) if name and password else None
    if user is None:
        await web.throttle.failed(name, ip)
        _log.info("admin UI sign-in failed")
        return _login_page(
            request, web, status_code=401, error=WRONG_CREDENTIALS, username=name, next_page=next
        )
    await web.throttle.succeeded(name)
    await web.sessions.destroy(request.cookies.get(SESSION_COOKIE))  # never keep a session from before
    cookie, session = await web.sessions.create(user)
    _log.info("admin UI sign-in: %r (%s)", session.username, session.role.value)
    response = _to(_safe_next(next) or f"{UI_PATH}/")
    _set_cookie(response, web, SESSION_COOKIE, cookie, None)
    _clear_cookie(response, web, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(
    request: Request, web: WebDep, session: CurrentSession, csrf: Annotated[str, Form()] = ""
) -> Response:
    """Sign out: needs the session and its CSRF token (403 otherwise); 303 to the sign-in form."""
    if session is None or not csrf_ok(session, csrf):
        return render(
            request,
            "error.html",
            {"title": "Forbidden", "error": "This sign-out request was not sent by a signed-in page."},
            status_code=403,
            session=session,
        )
    await web.sessions.destroy(request.cookies.get(SESSION_COOKIE))
    _log.info("admin UI sign-out: %r", session.username)
    response = _to(f"{UI_PATH}/login")
    _clear_cookie(response, web, SESSION_COOKIE)
    return response


def install_ui(app: FastAPI, web: WebServices) -> None:
    """Mount the UI on the admin app: its pages, `/ui/static`, and the security headers."""
    app.state.web = web
    app.add_middleware(SecurityHeaders)
    app.mount(f"{UI_PATH}/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.include_router(router)
    for page_router in PAGE_ROUTERS:
        app.include_router(page_router)

"""What the admin UI's pages run on: `WebServices` (sessions, throttle, sign-in CSRF, cookie policy), the
Jinja2 templates, the security headers of every `/ui` response, and the FastAPI dependencies that find
them and the signed-in session.

`create_app(..., web=WebServices(...))` mounts the UI (`admin_ui.web.routes.install_ui`); without it the
process serves the JSON API only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin_ui.deps import Services, services_for
from admin_ui.settings import AdminSettings
from admin_ui.web.csrf import LoginCsrf
from admin_ui.web.sessions import RedisSessionStore, Session
from admin_ui.web.throttle import LoginThrottle
from control_plane.redis_client import RedisClient

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "STATIC_DIR",
    "TEMPLATES_DIR",
    "UI_PATH",
    "CurrentSession",
    "PageServices",
    "SecurityHeaders",
    "WebDep",
    "WebServices",
    "current_session",
    "render",
    "web_services",
]

UI_PATH = "/ui"
"""Where the UI lives; its cookies are scoped to this path."""
SESSION_COOKIE = "tollway_session"
LOGIN_CSRF_COOKIE = "tollway_login_csrf"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
"""No inline scripts or styles anywhere: every page works with assets from `/ui/static` and `/ui/vendor`
alone. (`data:` images: plotly.js probes image support with one when it loads.)"""

_PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True, slots=True)
class WebServices:
    """The admin UI's own services: browser sessions, the sign-in throttle, the sign-in form's CSRF
    tokens, and whether its cookies are marked `Secure` (sent over HTTPS only)."""

    sessions: RedisSessionStore
    throttle: LoginThrottle
    login_csrf: LoginCsrf
    cookie_secure: bool


def web_services(settings: AdminSettings, client: RedisClient) -> WebServices:
    """The UI's services as the settings describe them, over one Redis/Valkey client."""
    return WebServices(
        sessions=RedisSessionStore(
            client,
            idle_ttl_s=settings.session_idle_ttl_s,
            absolute_ttl_s=settings.session_absolute_ttl_s,
        ),
        throttle=LoginThrottle(
            client, max_failures=settings.login_max_failures, window_s=settings.login_window_s
        ),
        login_csrf=LoginCsrf(settings.login_csrf_secret()),
        cookie_secure=settings.secure_cookies(),
    )


_templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    session: Session | None = None,
) -> Response:
    """A page from `templates/`; `session` (the signed-in user, if any) fills the header bar."""
    values: dict[str, Any] = {"session": session, "error": None, "notice": None}
    values.update(context or {})
    return _templates.TemplateResponse(request, template, values, status_code=status_code)


class SecurityHeaders:
    """ASGI middleware: the security headers on every response under `/ui` (pages, errors, assets).

    Pages get `Cache-Control: no-store` (they show who is signed in and carry CSRF tokens); stylesheets
    and other assets are revalidated (`no-cache`) so a new release shows at once; third-party libraries
    under `/ui/vendor/` (plotly.js, ~5 MB, changes only with the installed wheel) are cached for a week.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == UI_PATH or path.startswith(UI_PATH + "/")):
            await self.app(scope, receive, send)
            return
        if path.startswith(UI_PATH + "/vendor/"):
            cache = "public, max-age=604800"
        else:
            cache = "no-cache" if path.startswith(UI_PATH + "/static/") else "no-store"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _PAGE_HEADERS.items():
                    headers[name] = value
                headers["Cache-Control"] = cache
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _web(request: Request) -> WebServices:
    web: WebServices = request.app.state.web
    return web


WebDep = Annotated[WebServices, Depends(_web)]


async def current_session(request: Request, web: WebDep) -> Session | None:
    """The session the request's cookie names (its idle TTL slid), or None when signed out.

    Raises `StoreUnavailableError` when Redis cannot be reached: the page then answers 503 rather than
    treat the browser as signed out.
    """
    return await web.sessions.load(request.cookies.get(SESSION_COOKIE))


CurrentSession = Annotated[Session | None, Depends(current_session)]


def _page_services(request: Request) -> Services:
    """The app's services for a page handler. Writes made through them are audited under the signed-in
    user's name (`request.state.actor`, set by the `SignedIn` guard)."""
    return services_for(request)


PageServices = Annotated[Services, Depends(_page_services)]

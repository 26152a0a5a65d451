"""Who may see and change what in the admin UI, as FastAPI dependencies, and the route class that turns
the guards' refusals (and store outages) into HTML pages.

Roles (`AdminRole`):
- admin: every page and every form;
- viewer: every operator page, read-only: every form post answers 403;
- tenant: its own tenant only (its dashboard, its tenant page, its keys, usage and invoices); every
  operator page answers 403, and another tenant's page 404 (whether it exists is not revealed).

Every form post (any role) must carry the session's CSRF token in a `csrf` field; the guards that admit
a post (`AdminForm`, `TenantForm`) check it before the handler runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from admin_ui.web.context import UI_PATH, CurrentSession, render
from admin_ui.web.csrf import csrf_ok
from admin_ui.web.sessions import Session
from control_plane.errors import StoreUnavailableError
from control_plane.model.admin_user import AdminRole

__all__ = [
    "AdminForm",
    "Operator",
    "SignInRequired",
    "SignedIn",
    "TenantForm",
    "TenantReader",
    "UiError",
    "UiRoute",
    "admin_form",
    "check_csrf",
    "operator",
    "signed_in",
    "tenant_form",
    "tenant_reader",
]

_log = logging.getLogger(__name__)

READ_ONLY = "Your role is read-only: you can look at everything but change nothing."
OPERATORS_ONLY = "This page is for operators; you are signed in for one tenant."
BAD_CSRF = "This form expired or did not come from this site. Reload the page and try again."


class UiError(Exception):
    """A refusal shown as the error page: `status` (403, 404, ...) with a title and a message."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class SignInRequired(Exception):
    """No valid session: the route answers 303 to the sign-in form."""


class UiRoute(APIRoute):
    """A page route: `SignInRequired` → 303 to `/ui/login`; `UiError` → the error page with its status;
    a store outage (Redis/Valkey unreachable) → an HTML 503, never a JSON body or a traceback."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                target = request.url.path
                if request.method == "GET" and target not in (UI_PATH, f"{UI_PATH}/"):
                    query = f"?{request.url.query}" if request.url.query else ""
                    return RedirectResponse(
                        f"{UI_PATH}/login?next={quote(target + query, safe='')}", status_code=303
                    )
                return RedirectResponse(f"{UI_PATH}/login", status_code=303)
            except UiError as exc:
                return render(
                    request,
                    "error.html",
                    {"title": exc.title, "error": exc.message},
                    status_code=exc.status,
                    session=await _quiet_session(request),
                )
            except StoreUnavailableError:
                _log.warning("admin UI: a store is unreachable; answering 503")
                return render(
                    request,
                    "error.html",
                    {"title": "Service unavailable", "error": "A data store is unreachable. Try again soon."},
                    status_code=503,
                )

        return guarded


async def _quiet_session(request: Request) -> Session | None:
    """The session for the error page's header bar, if the guards found one (never raises)."""
    session = getattr(request.state, "session", None)
    return session if isinstance(session, Session) else None


async def signed_in(request: Request, session: CurrentSession) -> Session:
    """The signed-in session, else `SignInRequired`."""
    if session is None:
        raise SignInRequired
    request.state.session = session
    request.state.actor = session.username
    return session


SignedIn = Annotated[Session, Depends(signed_in)]


async def operator(session: SignedIn) -> Session:
    """An admin or a viewer (reading); a tenant user gets 403."""
    if session.role is AdminRole.TENANT:
        raise UiError(403, "Forbidden", OPERATORS_ONLY)
    return session


Operator = Annotated[Session, Depends(operator)]


async def check_csrf(request: Request, session: Session) -> None:
    """The post's `csrf` form field matches the session's token, else 403. (The form is parsed here;
    Starlette keeps it, so the handler's `Form()` parameters read the same one.)"""
    form = await request.form()
    submitted = form.get("csrf")
    if not isinstance(submitted, str) or not csrf_ok(session, submitted):
        _log.info("admin UI: a form post without a valid CSRF token refused (%r)", session.username)
        raise UiError(403, "Forbidden", BAD_CSRF)


async def admin_form(request: Request, session: SignedIn) -> Session:
    """A post only an admin may make: the role is checked first (a viewer learns nothing more than
    403), then the CSRF token."""
    if session.role is not AdminRole.ADMIN:
        raise UiError(403, "Forbidden", READ_ONLY if session.role is AdminRole.VIEWER else OPERATORS_ONLY)
    await check_csrf(request, session)
    return session


AdminForm = Annotated[Session, Depends(admin_form)]


def _sees_tenant(session: Session, tenant_id: str) -> bool:
    return session.role is not AdminRole.TENANT or session.tenant == tenant_id


async def tenant_reader(session: SignedIn, tenant_id: str) -> Session:
    """Reading tenant `tenant_id` (a path parameter): operators, or that tenant's own users; anyone else
    gets 404, as if the tenant did not exist."""
    if not _sees_tenant(session, tenant_id):
        raise UiError(404, "Not found", "There is no such tenant.")
    return session


TenantReader = Annotated[Session, Depends(tenant_reader)]


async def tenant_form(request: Request, session: SignedIn, tenant_id: str) -> Session:
    """A post that changes tenant `tenant_id`'s own things (its keys): an admin, or that tenant's own
    users; a viewer gets 403, another tenant's user 404; then the CSRF token."""
    if not _sees_tenant(session, tenant_id):
        raise UiError(404, "Not found", "There is no such tenant.")
    if session.role is AdminRole.VIEWER:
        raise UiError(403, "Forbidden", READ_ONLY)
    await check_csrf(request, session)
    return session


TenantForm = Annotated[Session, Depends(tenant_form)]

"""API keys of a tenant: create (the secret shown once, with a copy button), revoke, rotate with a grace
period. Admins for any tenant; tenant users for their own (`TenantForm`: a viewer gets 403, another
tenant's user 404, then the CSRF token is checked). A key id that is not the tenant's answers 404, so a
tenant user can never act on another tenant's key.

Create and rotate answer the secret page directly (no redirect: the secret exists in that one response
and nowhere else); revoke redirects to the tenant page.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from admin_ui.web.context import UI_PATH, PageServices, render
from admin_ui.web.forms import FORM_ERROR, form_text, lines, whole_number
from admin_ui.web.guards import TenantForm, UiError, UiRoute
from admin_ui.web.pages.lookup import tenant_or_404
from admin_ui.web.pages.tenant_detail import DEFAULT_GRACE_S, KeyFormState, key_rows, tenant_page
from admin_ui.web.sessions import Session
from control_plane.errors import KeyNotFoundError, KeyStateError, KeyValidationError
from control_plane.model import ApiKey

__all__ = ["router"]

router = APIRouter(prefix=UI_PATH, route_class=UiRoute, include_in_schema=False)

MAX_EXPIRY_DAYS = 3650
MAX_GRACE_S = 30 * 86_400
_BAD_EXPIRY = f"Enter a whole number of days from 1 to {MAX_EXPIRY_DAYS:,}, or leave blank."


async def _own_key(services: PageServices, tenant_id: str, key_id: str) -> ApiKey:
    """The key, if it is this tenant's; 404 otherwise (whether it exists elsewhere is not said)."""
    try:
        key = await services.keys.get(key_id)
    except KeyNotFoundError:
        key = None
    if key is None or key.tenant != tenant_id:
        raise UiError(404, "Not found", "This tenant has no such key.")
    return key


def _secret_page(
    request: Request,
    session: Session,
    services: PageServices,
    key: ApiKey,
    secret: str,
    *,
    previous: ApiKey | None = None,
) -> Response:
    now = services.keys.now()
    (row,) = key_rows([key], now)
    context = {
        "key": row,
        "tenant_id": key.tenant,
        "secret": secret,
        "previous": key_rows([previous], now)[0] if previous is not None else None,
        "back": f"{UI_PATH}/tenants/{key.tenant}#keys",
    }
    return render(request, "key_secret.html", context, session=session)


@router.post("/tenants/{tenant_id}/keys")
async def create_key(
    request: Request, tenant_id: str, session: TenantForm, services: PageServices
) -> Response:
    """A new key: name, optional expiry in days, optional allowed models (one a line or comma
    separated). The answer is the secret page; bad input shows the tenant page again (422)."""
    await tenant_or_404(services, tenant_id)
    form = await request.form()
    values = {name: form_text(form, name) for name in ("name", "expires_days", "allowed_models")}
    errors: dict[str, str] = {}
    if len(values["name"]) > 200:
        errors["name"] = "Use at most 200 characters."
    expires_days: int | None = None
    try:
        expires_days = whole_number(values["expires_days"], low=1, high=MAX_EXPIRY_DAYS)
    except ValueError:
        errors["expires_days"] = _BAD_EXPIRY
    models = lines(values["allowed_models"]) or None
    state = KeyFormState(values={**values, "grace_s": str(DEFAULT_GRACE_S)}, errors=errors, error=FORM_ERROR)
    if errors:
        return await tenant_page(request, session, services, tenant_id, key_form=state, status_code=422)
    expires_at = services.keys.now() + timedelta(days=expires_days) if expires_days is not None else None
    try:
        key, secret = await services.keys.create(tenant_id, values["name"], models, expires_at)
    except KeyValidationError as exc:
        failed = KeyFormState(values=state.values, errors={}, error=str(exc))
        return await tenant_page(request, session, services, tenant_id, key_form=failed, status_code=422)
    return _secret_page(request, session, services, key, secret)


@router.post("/tenants/{tenant_id}/keys/{key_id}/revoke")
async def revoke_key(tenant_id: str, key_id: str, session: TenantForm, services: PageServices) -> Response:
    """Revoke the key now (revoking a revoked key changes nothing)."""
    await _own_key(services, tenant_id, key_id)
    await services.keys.revoke(key_id)
    return RedirectResponse(f"{UI_PATH}/tenants/{tenant_id}?done=revoked#keys", status_code=303)


@router.post("/tenants/{tenant_id}/keys/{key_id}/rotate")
async def rotate_key(
    request: Request, tenant_id: str, key_id: str, session: TenantForm, services: PageServices
) -> Response:
    """Issue a replacement key (same name, models and expiry); the old one keeps working for `grace_s`
    seconds. The answer is the new secret's page."""
    await _own_key(services, tenant_id, key_id)
    form = await request.form()
    grace_text = form_text(form, "grace_s") or str(DEFAULT_GRACE_S)
    try:
        grace_s = whole_number(grace_text, low=0, high=MAX_GRACE_S)
    except ValueError:
        grace_s = None
    if grace_s is None:
        message = f"The grace period must be a whole number of seconds from 0 to {MAX_GRACE_S:,}."
        state = KeyFormState(values={"grace_s": grace_text}, errors={}, error=message)
        return await tenant_page(request, session, services, tenant_id, key_form=state, status_code=422)
    try:
        new, secret = await services.keys.rotate(key_id, timedelta(seconds=grace_s))
    except (KeyStateError, KeyValidationError) as exc:
        state = KeyFormState(values={"grace_s": grace_text}, errors={}, error=str(exc))
        return await tenant_page(request, session, services, tenant_id, key_form=state, status_code=409)
    previous = await services.keys.get(key_id)
    return _secret_page(request, session, services, new, secret, previous=previous)

"""Tenants: /ui/tenants (search, status filter, paging, this month's requests and cost), create
(/ui/tenants/-/new: no tenant id starts with `-`, so the form never hides a tenant's page), edit name,
plan and limit overrides (/ui/tenants/{id}/edit), suspend and resume.
The tenant page itself (keys, usage, budget, invoice) is `tenant_detail`; key actions are `keys`.

Operators (admins and viewers) read; only admins post (`AdminForm`: role, then CSRF). After a change
the browser is redirected (303) with a `done` code that the next page maps to a fixed message.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from admin_ui.web.context import UI_PATH, PageServices, render
from admin_ui.web.formatting import count, money_micro, whole
from admin_ui.web.forms import FORM_ERROR
from admin_ui.web.guards import AdminForm, Operator, UiRoute
from admin_ui.web.pages import tenant_detail
from admin_ui.web.pages.editing import require_admin
from admin_ui.web.pages.lookup import tenant_or_404
from admin_ui.web.pages.tenant_form import (
    LIMIT_LABELS,
    ParsedTenant,
    TenantFormValues,
    override_help,
    parse_tenant,
    values_of,
)
from admin_ui.web.pages.tenant_usage import totals
from admin_ui.web.paging import DEFAULT_PER_PAGE, paginate
from admin_ui.web.sessions import Session
from control_plane.errors import RegistryError
from control_plane.model import RegistrySpec, Tenant, TenantStatus

__all__ = ["NEW_TENANT_PATH", "router"]

router = APIRouter(prefix=UI_PATH, route_class=UiRoute, include_in_schema=False)

_STATUS_FILTERS = (("", "All statuses"), ("active", "Active"), ("suspended", "Suspended"))
_EXISTS = "A tenant with this id already exists; choose another id."

NEW_TENANT_PATH = f"{UI_PATH}/tenants/-/new"
"""The create form: `-` cannot start a tenant id (`TenantId`), so this never clashes with a tenant."""


def _matches(tenant: Tenant, needle: str, status: str) -> bool:
    if status and tenant.status.value != status:
        return False
    return not needle or needle in tenant.id or needle in tenant.name.lower()


@router.get("/tenants")
async def tenants_page(
    request: Request,
    session: Operator,
    services: PageServices,
    q: str = "",
    status: str = "",
    page: str = "1",
) -> Response:
    """The tenant list: `q` searches ids and names (case-insensitive), `status` filters, 50 a page.
    Usage is read for the tenants on the page only."""
    spec = (await services.registry.snapshot()).spec
    needle = q.strip().lower()
    status = status if status in ("active", "suspended") else ""
    found = sorted((t for t in spec.tenants if _matches(t, needle, status)), key=lambda t: t.id)
    shown, pager = paginate(
        found,
        page=whole(page, 1),
        per_page=DEFAULT_PER_PAGE,
        path=f"{UI_PATH}/tenants",
        query=(("q", q.strip()), ("status", status)),
    )
    month = f"{services.keys.now():%Y-%m}"
    usage = await asyncio.gather(*(services.usage.month_usage(t.id, month) for t in shown))
    rows = []
    for tenant, counters in zip(shown, usage, strict=True):
        used = totals(counters)
        rows.append(
            {
                "tenant": tenant,
                "requests": count(used.requests),
                "cost": money_micro(used.cost_micro),
            }
        )
    context = {
        "rows": rows,
        "pager": pager,
        "q": q.strip(),
        "status": status,
        "status_options": _STATUS_FILTERS,
        "month": month,
        "total_tenants": count(len(spec.tenants)),
        "new_tenant_href": NEW_TENANT_PATH,
    }
    return render(request, "tenants.html", context, session=session)


def _form_page(
    request: Request,
    session: Session,
    spec: RegistrySpec,
    values: TenantFormValues,
    *,
    editing: bool,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The create or edit form, with `errors` next to their fields and `error` at the top."""
    plans = [(p.name, p.name) for p in spec.plans]
    context: dict[str, Any] = {
        "values": values,
        "errors": errors or {},
        "error": error,
        "editing": editing,
        "action": f"{UI_PATH}/tenants/{values.id}" if editing else f"{UI_PATH}/tenants",
        "plan_options": plans if editing else [("", "Choose a plan…"), *plans],
        "status_options": [(s.value, s.value.capitalize()) for s in TenantStatus],
        "limit_labels": LIMIT_LABELS,
        "limit_help": override_help(spec.plan(values.plan)),
    }
    return render(request, "tenant_form.html", context, status_code=status_code, session=session)


@router.get(NEW_TENANT_PATH.removeprefix(UI_PATH))
async def new_tenant_page(request: Request, session: Operator, services: PageServices) -> Response:
    """An empty tenant form (admins)."""
    require_admin(session)
    spec = (await services.registry.snapshot()).spec
    values = TenantFormValues(plan=spec.plans[0].name if len(spec.plans) == 1 else "")
    return _form_page(request, session, spec, values, editing=False)


async def _save(
    request: Request, session: Session, services: PageServices, parsed: ParsedTenant, *, editing: bool
) -> Response:
    """Store the parsed tenant, or show the form again (422) with what is wrong."""
    spec = (await services.registry.snapshot()).spec
    errors = dict(parsed.errors)
    if not editing and parsed.values.id and spec.tenant(parsed.values.id) is not None:
        errors["id"] = _EXISTS
    if parsed.values.plan and spec.plan(parsed.values.plan) is None and "plan" not in errors:
        errors["plan"] = f"There is no plan {parsed.values.plan!r}; choose one of the list."
    if errors or parsed.tenant is None:
        return _form_page(
            request,
            session,
            spec,
            parsed.values,
            editing=editing,
            errors=errors,
            error=FORM_ERROR,
            status_code=422,
        )
    try:
        await services.registry.put_tenant(parsed.tenant)
    except RegistryError as exc:
        return _form_page(
            request, session, spec, parsed.values, editing=editing, error=str(exc), status_code=422
        )
    done = "saved" if editing else "created"
    return RedirectResponse(f"{UI_PATH}/tenants/{parsed.tenant.id}?done={done}", status_code=303)


@router.post("/tenants")
async def create_tenant(request: Request, session: AdminForm, services: PageServices) -> Response:
    """Create a tenant (admins); an id that exists is refused next to the id."""
    form = await request.form()
    return await _save(request, session, services, parse_tenant(form, None), editing=False)


@router.get("/tenants/{tenant_id}/edit")
async def edit_tenant_page(
    request: Request, tenant_id: str, session: Operator, services: PageServices
) -> Response:
    """The tenant's name, plan and limit overrides, in a form (admins)."""
    require_admin(session)
    tenant, _ = await tenant_or_404(services, tenant_id)
    spec = (await services.registry.snapshot()).spec
    return _form_page(request, session, spec, values_of(tenant), editing=True)


@router.post("/tenants/{tenant_id}")
async def update_tenant(
    request: Request, tenant_id: str, session: AdminForm, services: PageServices
) -> Response:
    """Save the tenant's name, plan and overrides (admins); its id, status and cache stay."""
    tenant, _ = await tenant_or_404(services, tenant_id)
    form = await request.form()
    return await _save(request, session, services, parse_tenant(form, tenant), editing=True)


async def _set_status(services: PageServices, tenant_id: str, status: TenantStatus, done: str) -> Response:
    tenant, _ = await tenant_or_404(services, tenant_id)
    if tenant.status is not status:
        await services.registry.put_tenant(tenant.model_copy(update={"status": status}))
    return RedirectResponse(f"{UI_PATH}/tenants/{tenant_id}?done={done}", status_code=303)


@router.post("/tenants/{tenant_id}/suspend")
async def suspend_tenant(tenant_id: str, session: AdminForm, services: PageServices) -> Response:
    """Suspend: every key of the tenant gets 403 at the gateway until it is resumed (admins)."""
    return await _set_status(services, tenant_id, TenantStatus.SUSPENDED, "suspended")


@router.post("/tenants/{tenant_id}/resume")
async def resume_tenant(tenant_id: str, session: AdminForm, services: PageServices) -> Response:
    """Make a suspended tenant active again (admins)."""
    return await _set_status(services, tenant_id, TenantStatus.ACTIVE, "resumed")


router.include_router(tenant_detail.router)

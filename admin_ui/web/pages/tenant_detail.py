"""The tenant page /ui/tenants/{id}: facts and effective limits, the budget left this month, this
month's totals, the tenant's API keys, usage per day for the last 30 days (charts and a table by day
and model), and the invoice of a month with its CSV export (/ui/tenants/{id}/invoice.csv).

Operators and the tenant's own users read it (`TenantReader`; anyone else gets 404). "Now" is the key
store's clock (the wall clock in production), so key states and "this month" agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from admin_ui.web.context import UI_PATH, PageServices, render
from admin_ui.web.formatting import count, done_notice, money_micro, utc_text
from admin_ui.web.guards import TenantReader, UiError, UiRoute
from admin_ui.web.pages.lookup import tenant_or_404
from admin_ui.web.pages.tenant_form import LIMIT_LABELS, limit_text
from admin_ui.web.pages.tenant_usage import (
    budget_rows,
    by_day_and_model,
    cost_figure,
    last_days,
    totals,
    usage_figure,
)
from admin_ui.web.sessions import Session
from control_plane.errors import UsagePeriodError
from control_plane.model import AdminRole, ApiKey, KeyState, Plan, Tenant
from control_plane.usage import LineKind, build_invoice, check_month, invoice_csv

__all__ = ["DONE_MESSAGES", "KeyFormState", "KeyRow", "key_rows", "router", "tenant_page"]

router = APIRouter(route_class=UiRoute, include_in_schema=False)

DONE_MESSAGES: Mapping[str, str] = {
    "created": "Tenant created.",
    "saved": "Tenant saved.",
    "suspended": "Tenant suspended: its keys are refused until it is resumed.",
    "resumed": "Tenant resumed: its keys work again.",
    "revoked": "Key revoked: the gateway refuses it from now on.",
}
"""The messages `?done=<code>` shows after a change (never text from the URL)."""

DEFAULT_GRACE_S = 3600


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One API key as the keys table shows it (never its hash)."""

    id: str
    name: str
    prefix: str
    created: str
    expires: str
    state: str
    badge: str
    models: str
    can_revoke: bool
    can_rotate: bool


def key_rows(keys: list[ApiKey], now: datetime) -> list[KeyRow]:
    """The tenant's keys, newest first. A rotated key still in its grace period is `rotated`."""
    rows = []
    for key in sorted(keys, key=lambda k: (k.created_at, k.id), reverse=True):
        state = key.state(now)
        active = state is KeyState.ACTIVE
        label = "rotated" if active and key.rotated_to is not None else state.value
        badge = {"active": "ok", "rotated": "warn"}.get(label, "bad")
        rows.append(
            KeyRow(
                id=key.id,
                name=key.name,
                prefix=key.prefix,
                created=utc_text(key.created_at),
                expires=utc_text(key.expires_at) if key.expires_at is not None else "never",
                state=label,
                badge=badge,
                models=", ".join(key.allowed_models) if key.allowed_models is not None else "plan's models",
                can_revoke=active,
                can_rotate=active and key.rotated_to is None,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class KeyFormState:
    """The new-key and rotate forms as a failed post left them: values, errors, the top message."""

    values: Mapping[str, str]
    errors: Mapping[str, str]
    error: str | None = None


def _month(month: str, default: str) -> str:
    try:
        return check_month(month.strip() or default)
    except UsagePeriodError as exc:
        raise UiError(400, "Bad month", f"{exc}.") from None


def _limits(tenant: Tenant, plan: Plan) -> list[dict[str, str]]:
    """Every limit in force, and whether it is the plan's or the tenant's own."""
    effective = plan.limits.overridden_by(tenant.overrides)
    overridden = tenant.overrides.model_fields_set if tenant.overrides is not None else set()
    return [
        {
            "label": label,
            "value": limit_text(name, getattr(effective, name)),
            "source": "tenant override" if name in overridden else "plan",
        }
        for name, label in LIMIT_LABELS.items()
    ]


async def tenant_page(
    request: Request,
    session: Session,
    services: PageServices,
    tenant_id: str,
    *,
    month: str = "",
    notice: str | None = None,
    key_form: KeyFormState | None = None,
    status_code: int = 200,
) -> Response:
    """The tenant page; `key_form` shows the key forms again with what was wrong (status 4xx)."""
    tenant, plan = await tenant_or_404(services, tenant_id)
    now = services.keys.now()
    this_month = f"{now:%Y-%m}"
    invoice_month = _month(month, this_month)
    month_counters = await services.usage.month_usage(tenant.id, this_month)
    invoice_counters = (
        month_counters
        if invoice_month == this_month
        else await services.usage.month_usage(tenant.id, invoice_month)
    )
    days = last_days(now.date())
    per_day = await services.usage.day_usage(tenant.id, days)
    month_totals = totals(month_counters)
    today = totals(per_day.get(days[-1], {}))
    effective = plan.limits.overridden_by(tenant.overrides)
    invoice = build_invoice(tenant.id, plan, invoice_month, invoice_counters)
    month_invoice = (
        invoice if invoice_month == this_month else build_invoice(tenant.id, plan, this_month, month_counters)
    )
    keys = key_rows(await services.keys.list(tenant.id), now)
    role = session.role
    context: dict[str, Any] = {
        "tenant": tenant,
        "plan": plan,
        "notice": notice,
        "is_admin": role is AdminRole.ADMIN,
        "is_operator": role is not AdminRole.TENANT,
        "can_manage_keys": role is not AdminRole.VIEWER,
        "limits": _limits(tenant, plan),
        "budget": budget_rows(effective, month_totals, today),
        "this_month": this_month,
        "month_totals": {
            "requests": count(month_totals.requests),
            "tokens": count(month_totals.tokens),
            "prompt_tokens": count(month_totals.prompt_tokens),
            "completion_tokens": count(month_totals.completion_tokens),
        },
        # What this month's invoice says so far: usage, per-line rounding and any monthly fee.
        "month_cost": money_micro(month_invoice.total_micro),
        "month_has_fee": any(line.kind is LineKind.MONTHLY_FEE for line in month_invoice.lines),
        "keys": keys,
        "key_form": key_form or KeyFormState(values={"grace_s": str(DEFAULT_GRACE_S)}, errors={}),
        "first_day": days[0],
        "usage_figure": usage_figure(days, per_day),
        "cost_figure": cost_figure(days, per_day),
        "day_rows": [
            {
                "day": row.day,
                "model": row.model,
                "requests": count(row.requests),
                "prompt_tokens": count(row.prompt_tokens),
                "completion_tokens": count(row.completion_tokens),
                "cost": money_micro(row.cost_micro),
            }
            for row in by_day_and_model(per_day)
        ],
        "invoice": invoice,
        "invoice_lines": [
            {
                "line": line,
                "label": line.model or "Monthly fee",
                "requests": count(line.requests),
                "prompt_tokens": count(line.prompt_tokens),
                "cached_tokens": count(line.cached_tokens),
                "completion_tokens": count(line.completion_tokens),
                "cost": money_micro(line.cost_micro),
            }
            for line in invoice.lines
        ],
        "invoice_total": money_micro(invoice.total_micro),
        "invoice_used_tokens": count(invoice.used_tokens),
        "csv_href": f"{UI_PATH}/tenants/{tenant.id}/invoice.csv?month={invoice_month}",
    }
    return render(request, "tenant.html", context, status_code=status_code, session=session)


@router.get("/tenants/{tenant_id}")
async def tenant_detail_page(
    request: Request,
    tenant_id: str,
    session: TenantReader,
    services: PageServices,
    month: str = "",
    done: str = "",
) -> Response:
    """The tenant page; `month` (YYYY-MM) picks the invoice shown, default this month."""
    return await tenant_page(
        request, session, services, tenant_id, month=month, notice=done_notice(done, DONE_MESSAGES)
    )


@router.get("/tenants/{tenant_id}/invoice.csv")
async def invoice_csv_export(
    tenant_id: str, session: TenantReader, services: PageServices, month: str = ""
) -> Response:
    """The invoice of `month` (default this month) as CSV, the same file as the admin API's."""
    tenant, plan = await tenant_or_404(services, tenant_id)
    period = _month(month, f"{services.keys.now():%Y-%m}")
    invoice = build_invoice(tenant.id, plan, period, await services.usage.month_usage(tenant.id, period))
    filename = f"tollway-{tenant.id}-{period}.csv"
    return Response(
        invoice_csv(invoice),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )

"""/admin/v1/usage/{tenant}: a tenant's invoice for one month, as JSON or CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from admin_ui.deps import AdminAuth, RegistryDep, UsageDep
from control_plane.errors import RegistryNotFoundError
from control_plane.usage import Invoice, build_invoice, check_month, invoice_csv

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/usage", tags=["usage"], dependencies=[AdminAuth])


class InvoiceFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


@router.get(
    "/{tenant_id}",
    response_model=Invoice,
    responses={200: {"content": {"text/csv": {}}, "description": "the invoice (JSON or CSV)"}},
)
async def get_usage(
    tenant_id: str,
    registry: RegistryDep,
    usage: UsageDep,
    month: Annotated[str | None, Query(description="UTC month YYYY-MM; default: this month")] = None,
    format: Annotated[InvoiceFormat, Query(description="json or csv")] = InvoiceFormat.JSON,
) -> Invoice | Response:
    """The tenant's usage for the month, one line per model and price version, with the total.

    Costs are in micro-units (1e-6 of the currency), rounded half up once per line."""
    period = check_month(month or datetime.now(UTC).strftime("%Y-%m"))
    spec = (await registry.snapshot()).spec
    tenant = spec.tenant(tenant_id)
    if tenant is None:
        raise RegistryNotFoundError(f"tenant {tenant_id!r} is not in the registry")
    plan = spec.plan(tenant.plan)
    if plan is None:  # the registry's consistency rules make this impossible
        raise RegistryNotFoundError(f"plan {tenant.plan!r} of tenant {tenant_id!r} is not in the registry")
    invoice = build_invoice(tenant.id, plan, period, await usage.month_usage(tenant.id, period))
    if format is InvoiceFormat.CSV:
        filename = f"tollway-{tenant.id}-{period}.csv"
        return Response(
            invoice_csv(invoice),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return invoice

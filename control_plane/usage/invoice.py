"""Invoices from usage counters: a pure function of the tenant's plan and one month's counters.

Counters hold costs in pico-units (1e-12) as ext_proc billed them (`cost_pico` already follows the
plan's billing kind: per_token = token cost, per_call = the call price per billable request,
monthly = the request's overage share). An invoice shows micro-units (1e-6), rounded half up once per
line, and the total is the monthly fee plus the sum of the rounded lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from control_plane.keys import TOTAL, USAGE_METRICS
from control_plane.model import PICO_PER_MICRO, BillingKind, Plan
from control_plane.usage.reader import check_month

__all__ = ["Invoice", "InvoiceLine", "LineKind", "build_invoice", "format_micro", "pico_to_micro"]

_MICRO_PER_UNIT = 1_000_000


class LineKind(StrEnum):
    USAGE = "usage"
    MONTHLY_FEE = "monthly_fee"


class InvoiceLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: LineKind
    model: str = ""
    price_version: str = ""
    requests: int = 0
    billable_requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    estimated_requests: int = 0
    cost_micro: int
    amount: str


class Invoice(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    plan: str
    billing: BillingKind
    month: str
    lines: tuple[InvoiceLine, ...]
    included_tokens: int | None = None
    used_tokens: int
    overage_tokens: int | None = None
    total_micro: int
    total: str


def pico_to_micro(pico: int) -> int:
    """Pico-units to micro-units, rounded half up (costs are never negative)."""
    return (pico + PICO_PER_MICRO // 2) // PICO_PER_MICRO


def format_micro(micro: int) -> str:
    """Micro-units as a decimal string with at least two decimals: 1_500_000 → "1.50"."""
    sign = "-" if micro < 0 else ""
    units, fraction = divmod(abs(micro), _MICRO_PER_UNIT)
    decimals = f"{fraction:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{units}.{decimals}"


def _per_line_counters(usage_fields: Mapping[str, int]) -> dict[tuple[str, str], dict[str, int]]:
    lines: dict[tuple[str, str], dict[str, int]] = {}
    for field, value in usage_fields.items():
        parts = field.split("|")
        if len(parts) != 3 or parts[2] not in USAGE_METRICS:
            continue
        model, version, metric = parts
        if model == TOTAL and version == TOTAL:
            continue
        lines.setdefault((model, version), {})[metric] = int(value)
    return lines


def build_invoice(tenant: str, plan: Plan, month: str, usage_fields: Mapping[str, int]) -> Invoice:
    """One line per (model, price version) with usage, sorted; a `monthly_fee` line for monthly plans."""
    check_month(month)
    lines: list[InvoiceLine] = []
    billing = plan.billing
    if billing.kind is BillingKind.MONTHLY:
        lines.append(
            InvoiceLine(
                kind=LineKind.MONTHLY_FEE,
                cost_micro=billing.monthly_fee_micro,
                amount=format_micro(billing.monthly_fee_micro),
            )
        )
    used_tokens = 0
    for (model, version), counters in sorted(_per_line_counters(usage_fields).items()):
        if not any(counters.values()):
            continue
        cost_micro = pico_to_micro(counters.get("cost_pico", 0))
        used_tokens += counters.get("prompt_tokens", 0) + counters.get("completion_tokens", 0)
        lines.append(
            InvoiceLine(
                kind=LineKind.USAGE,
                model=model,
                price_version=version,
                requests=counters.get("requests", 0),
                billable_requests=counters.get("billable_requests", 0),
                prompt_tokens=counters.get("prompt_tokens", 0),
                cached_tokens=counters.get("cached_tokens", 0),
                completion_tokens=counters.get("completion_tokens", 0),
                estimated_requests=counters.get("estimated_requests", 0),
                cost_micro=cost_micro,
                amount=format_micro(cost_micro),
            )
        )
    total = sum(line.cost_micro for line in lines)
    monthly = billing.kind is BillingKind.MONTHLY
    return Invoice(
        tenant=tenant,
        plan=plan.name,
        billing=billing.kind,
        month=month,
        lines=tuple(lines),
        included_tokens=billing.included_tokens if monthly else None,
        used_tokens=used_tokens,
        overage_tokens=max(0, used_tokens - billing.included_tokens) if monthly else None,
        total_micro=total,
        total=format_micro(total),
    )

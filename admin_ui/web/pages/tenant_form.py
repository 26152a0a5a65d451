"""The tenant form (create and edit): its fields, reading a post into a `Tenant`, and the values and
help texts it shows.

Limit overrides: one text input per `Limits` field, named `overrides.<field>`. Blank inherits the
plan's limit (the field is left unset), the word `none` lifts the limit (the field is set to None), a
whole number replaces it. Which fields are set is what `Tenant.overrides` means (see
`Limits.overridden_by`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from admin_ui.web.formatting import count, money_micro
from admin_ui.web.forms import field_errors, form_text, whole_number
from control_plane.model import Plan, Tenant, TenantStatus
from control_plane.model.plan import MAX_COUNT

__all__ = [
    "LIMIT_LABELS",
    "NO_LIMIT",
    "ParsedTenant",
    "TenantFormValues",
    "limit_text",
    "override_help",
    "parse_tenant",
    "values_of",
]

NO_LIMIT = "none"
"""What an override input holds to lift the plan's limit."""

LIMIT_LABELS: Mapping[str, str] = {
    "requests_per_minute": "Requests per minute",
    "input_tokens_per_minute": "Input tokens per minute",
    "output_tokens_per_minute": "Output tokens per minute",
    "tokens_per_minute": "Tokens per minute",
    "max_concurrent_requests": "Concurrent requests",
    "daily_tokens": "Tokens per day",
    "monthly_tokens": "Tokens per month",
    "monthly_budget_micro": "Monthly budget",
}
"""Every `Limits` field with its label, in the order the forms and pages show them."""

_BAD_ID = "Use 1 to 64 lower-case letters, digits, “-” or “_”, starting and ending with a letter or digit."
_NOT_A_NUMBER = (
    f"Enter a whole number from 0 to {MAX_COUNT:,}, “{NO_LIMIT}” for no limit, or leave blank to use the"
    " plan's limit."
)


def limit_text(name: str, value: int | None) -> str:
    """A limit as a page shows it: "no limit", a count, or money for the budget."""
    if value is None:
        return "no limit"
    return money_micro(value) if name == "monthly_budget_micro" else count(value)


def override_help(plan: Plan | None) -> dict[str, str]:
    """Each override input's help text: the plan's value, and what blank and `none` mean."""
    hint = f"Blank: the plan's limit; “{NO_LIMIT}”: no limit."
    helps: dict[str, str] = {}
    for name in LIMIT_LABELS:
        text = hint
        if plan is not None:
            value = getattr(plan.limits, name)
            shown = limit_text(name, value)
            if name == "monthly_budget_micro" and value is not None:
                shown = f"{shown} ({count(value)} micro-units)"
            text = f"Plan {plan.name}: {shown}. {hint}"
        if name == "monthly_budget_micro":
            text = f"In micro-units (1 unit = 1,000,000). {text}"
        helps[name] = text
    return helps


@dataclass(slots=True)
class TenantFormValues:
    """What the form's inputs show (the post as typed, or the stored tenant)."""

    id: str = ""
    name: str = ""
    plan: str = ""
    status: str = TenantStatus.ACTIVE.value
    overrides: dict[str, str] = field(default_factory=lambda: dict.fromkeys(LIMIT_LABELS, ""))


def values_of(tenant: Tenant) -> TenantFormValues:
    """The form's values for a stored tenant (an override set to None shows as `none`)."""
    overrides = dict.fromkeys(LIMIT_LABELS, "")
    if tenant.overrides is not None:
        for name in tenant.overrides.model_fields_set:
            value = getattr(tenant.overrides, name)
            overrides[name] = NO_LIMIT if value is None else str(value)
    return TenantFormValues(tenant.id, tenant.name, tenant.plan, tenant.status.value, overrides)


@dataclass(frozen=True, slots=True)
class ParsedTenant:
    """A posted form: the tenant, or the messages per field (`tenant` is None then)."""

    values: TenantFormValues
    tenant: Tenant | None
    errors: dict[str, str]


def _override(text: str) -> tuple[bool, int | None]:
    """(set?, value): blank → unset; `none` → None; a whole number (`1,000` and `1_000` allowed) → it.
    Raises ValueError (with the message shown next to the field) for anything else."""
    if text.lower() == NO_LIMIT:
        return True, None
    try:
        value = whole_number(text, low=0, high=MAX_COUNT)
    except ValueError:
        raise ValueError(_NOT_A_NUMBER) from None
    return value is not None, value


def parse_tenant(form: Mapping[str, Any], existing: Tenant | None) -> ParsedTenant:
    """The tenant a create form (`existing` None) or an edit form describes. An edit keeps the stored
    id, status and cache settings; only name, plan and overrides change."""
    values = TenantFormValues(
        id=existing.id if existing is not None else form_text(form, "id"),
        name=form_text(form, "name"),
        plan=form_text(form, "plan"),
        status=existing.status.value if existing is not None else form_text(form, "status") or "active",
        overrides={name: form_text(form, f"overrides.{name}") for name in LIMIT_LABELS},
    )
    errors: dict[str, str] = {}
    overrides: dict[str, int | None] = {}
    for name, text in values.overrides.items():
        try:
            is_set, value = _override(text)
        except ValueError as exc:
            errors[f"overrides.{name}"] = str(exc)
            continue
        if is_set:
            overrides[name] = value
    data: dict[str, Any] = {
        "id": values.id,
        "name": values.name,
        "plan": values.plan,
        "status": values.status,
        "overrides": overrides or None,
        "cache": existing.cache if existing is not None else None,
    }
    tenant: Tenant | None = None
    try:
        tenant = Tenant.model_validate(data)
    except ValidationError as exc:
        for key, message in field_errors(exc).items():
            errors.setdefault(key, message)
    if "id" in errors:
        errors["id"] = _BAD_ID if values.id else "Enter an id."
    if not values.plan:
        errors["plan"] = "Choose a plan."
    return ParsedTenant(values, None if errors else tenant, errors)

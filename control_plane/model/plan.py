"""Plans: the limits and the billing model a tenant buys.

Money is integer micro-currency units (1 unit = 1_000_000 micro; e.g. $0.15 = 150_000). Token prices are
per 1M tokens, so the exact cost of a request is `tokens * price_per_1m_micro` in pico-units
(1e-12 of a currency unit); ledgers keep pico-units and invoices round once per line.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from control_plane.model.cache_policy import CachePolicy
from control_plane.model.model import ModelName

__all__ = [
    "Billing",
    "BillingKind",
    "Limits",
    "Plan",
    "PlanName",
]

PlanName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$")
]

MAX_COUNT = 2**53 - 1
"""Counts, limits and prices are checked in Lua (doubles): exact up to 2^53 - 1 (9e15 micro = 9e9 units)."""
MAX_REQUESTS_PER_MINUTE = 2**32 - 1
"""Envoy's local rate limit bucket holds a uint32."""

_Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
_RequestsPerMinute = Annotated[int, Field(ge=0, le=MAX_REQUESTS_PER_MINUTE)]


class BillingKind(StrEnum):
    PER_TOKEN = "per_token"  # noqa: S105 (not a secret)
    """Every token at the model's price (input, cached input, output)."""
    PER_CALL = "per_call"
    """A fixed price per successful call, whatever its size."""
    MONTHLY = "monthly"
    """A monthly fee that includes `included_tokens`; tokens beyond are overage at `overage_per_1m_micro`."""


class Billing(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: BillingKind = BillingKind.PER_TOKEN
    price_per_call_micro: _Count = 0
    monthly_fee_micro: _Count = 0
    included_tokens: _Count = 0
    overage_per_1m_micro: _Count = 0

    @model_validator(mode="after")
    def _check(self) -> Billing:
        if self.kind is not BillingKind.PER_CALL and self.price_per_call_micro:
            raise ValueError("price_per_call_micro applies to per_call billing only")
        if self.kind is not BillingKind.MONTHLY and (
            self.monthly_fee_micro or self.included_tokens or self.overage_per_1m_micro
        ):
            raise ValueError(
                "monthly_fee_micro, included_tokens and overage_per_1m_micro apply to monthly only"
            )
        return self


class Limits(BaseModel):
    """Quota limits; None means "no limit on this dimension". Per tenant, shared by every replica."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: _RequestsPerMinute | None = None
    input_tokens_per_minute: _Count | None = None
    output_tokens_per_minute: _Count | None = None
    tokens_per_minute: _Count | None = None
    max_concurrent_requests: _Count | None = None
    daily_tokens: _Count | None = None
    monthly_tokens: _Count | None = None
    monthly_budget_micro: _Count | None = None

    def overridden_by(self, overrides: Limits | None) -> Limits:
        """These limits with every field that `overrides` sets explicitly (even to None) replaced."""
        if overrides is None:
            return self
        changes = {name: getattr(overrides, name) for name in overrides.model_fields_set}
        return self.model_copy(update=changes)


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: PlanName
    description: str = Field(default="", max_length=1000)
    limits: Limits = Limits()
    allowed_models: tuple[ModelName, ...] | None = Field(
        default=None, description="model names (not aliases) this plan may call; None = every model"
    )
    billing: Billing = Billing()
    output_reserve_tokens: int = Field(
        default=256,
        ge=0,
        le=1_000_000,
        description="output tokens reserved at admission when a request asks for more (or sets no max); "
        "settled to the actual count when the response reports usage",
    )
    max_output_tokens: int | None = Field(
        default=None,
        ge=1,
        description="cap on a request's max_tokens (injected when the client sends none); bounds overshoot",
    )

    cache: CachePolicy | None = Field(
        default=None,
        description="response cache for the plan's tenants (off unless enabled here or on a tenant)",
    )

    @model_validator(mode="after")
    def _sharing_is_a_tenant_choice(self) -> Plan:
        if self.cache is not None and self.cache.namespace is not None:
            raise ValueError(
                "a shared cache namespace is a tenant's opt-in: set it on the tenant, not the plan"
            )
        return self

    def allows_model(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models

"""Model prices, versioned by `effective_from`: a new price never changes what was already billed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from control_plane.model.model import ModelName

__all__ = ["PICO_PER_MICRO", "Price", "cache_hit_cost_pico", "price_at", "token_cost_pico"]

PICO_PER_MICRO = 1_000_000
"""pico-units (1e-12) per micro-unit (1e-6)."""

_MAX_PRICE = 10**11
"""100,000 currency units per 1M tokens: far above any real price, and low enough that a request's cost
in pico-units (tokens x price) stays inside Redis's signed 64-bit counters."""


class Price(BaseModel):
    """Prices in micro-currency units per 1M tokens, valid from `effective_from` until the next version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelName
    effective_from: AwareDatetime
    input_per_1m_micro: int = Field(default=0, ge=0, le=_MAX_PRICE)
    output_per_1m_micro: int = Field(default=0, ge=0, le=_MAX_PRICE)
    cached_input_per_1m_micro: int = Field(default=0, ge=0, le=_MAX_PRICE)
    cache_hit_per_1m_micro: int = Field(
        default=0,
        ge=0,
        le=_MAX_PRICE,
        description="per 1M tokens (prompt + completion) of an answer served from the "
        "gateway's response cache, for tenants whose cache policy bills hits at the cache price",
    )

    @property
    def version(self) -> str:
        """The identity of this price version, recorded with every billed request."""
        return self.effective_from.isoformat()


def price_at(prices: Iterable[Price], model: str, when: datetime) -> Price | None:
    """The version of `model`'s price in force at `when` (latest `effective_from` ≤ when), if any."""
    best: Price | None = None
    for price in prices:
        if (
            price.model == model
            and price.effective_from <= when
            and (best is None or price.effective_from > best.effective_from)
        ):
            best = price
    return best


def token_cost_pico(
    price: Price | None, *, prompt_tokens: int, completion_tokens: int, cached_tokens: int
) -> int:
    """The exact cost of a request's tokens in pico-units (1e-12); cached tokens are part of the prompt."""
    if price is None:
        return 0
    cached = min(cached_tokens, prompt_tokens)
    return (
        (prompt_tokens - cached) * price.input_per_1m_micro
        + cached * price.cached_input_per_1m_micro
        + completion_tokens * price.output_per_1m_micro
    )


def cache_hit_cost_pico(price: Price | None, *, tokens: int) -> int:
    """The cost in pico-units of `tokens` (prompt + completion) served from the response cache."""
    return 0 if price is None else tokens * price.cache_hit_per_1m_micro

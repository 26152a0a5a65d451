"""Response-cache policy: set on plans, tenants and models; resolved per request.

Each level sets only the fields it cares about (unset fields inherit). Resolution order, most specific
last: built-in defaults ← plan ← tenant ← model. Plan and tenant decide whether caching is on for a
tenant; a model can only veto it (`enabled: false`: its answers must never be reused, e.g. a
non-deterministic tool model) — it cannot turn caching on for tenants that did not opt in. The model's
other fields (layers, threshold, TTL) override, because how alike two prompts must be for one of its
answers to fit both is a property of the model's use.

Similarity is cosine similarity of normalized embeddings in [-1, 1]; it is the one unit used everywhere
(settings, headers, evaluation). Stores that speak another unit convert in `ext_proc.cache.similarity`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_CACHE_POLICY",
    "CacheLayer",
    "CacheNamespace",
    "CachePolicy",
    "CacheSettings",
    "HitBilling",
    "resolve_cache_policy",
]

CacheNamespace = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$")
]


class CacheLayer(StrEnum):
    EXACT = "exact"
    """The same canonical request (every message, every parameter) was answered before."""
    SEMANTIC = "semantic"
    """Everything but the last user message is identical, and that message means the same (embedding
    similarity at or above the threshold, and the near-miss guard agrees)."""


class HitBilling(StrEnum):
    FREE = "free"
    """A hit costs nothing and uses no token quota (it is still recorded in the ledger)."""
    CACHE_PRICE = "cache_price"
    """A hit's tokens are billed at the model price's `cache_hit_per_1m_micro`, and count as tokens."""


class CachePolicy(BaseModel):
    """One level's cache settings; None = inherit from the level below."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool | None = None
    layers: tuple[CacheLayer, ...] | None = Field(default=None, min_length=1)
    similarity_threshold: float | None = Field(
        default=None, ge=0.5, le=1.0, description="minimum cosine similarity for a semantic hit"
    )
    ttl_s: int | None = Field(default=None, ge=1, le=30 * 86_400, description="how long an answer is kept")
    hit_billing: HitBilling | None = None
    namespace: CacheNamespace | None = Field(
        default=None,
        description="share entries with every tenant that names the same namespace (opt-in); "
        "None = the tenant's own entries only",
    )


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """The resolved policy for one (tenant, model): every field concrete."""

    enabled: bool
    layers: frozenset[CacheLayer]
    similarity_threshold: float
    ttl_s: int
    hit_billing: HitBilling
    namespace: str | None

    @property
    def semantic(self) -> bool:
        return self.enabled and CacheLayer.SEMANTIC in self.layers

    @property
    def exact(self) -> bool:
        return self.enabled and CacheLayer.EXACT in self.layers


DEFAULT_CACHE_POLICY = CacheSettings(
    enabled=False,
    layers=frozenset({CacheLayer.EXACT, CacheLayer.SEMANTIC}),
    similarity_threshold=0.90,
    ttl_s=3600,
    hit_billing=HitBilling.FREE,
    namespace=None,
)


def resolve_cache_policy(
    plan: CachePolicy | None,
    tenant: CachePolicy | None,
    model: CachePolicy | None,
    *,
    base: CacheSettings = DEFAULT_CACHE_POLICY,
) -> CacheSettings:
    """`base` with the plan's, then the tenant's, then the model's set fields applied (see module doc)."""
    enabled, layers, threshold = base.enabled, base.layers, base.similarity_threshold
    ttl_s, billing, namespace = base.ttl_s, base.hit_billing, base.namespace
    for level in (plan, tenant, model):
        if level is None:
            continue
        if level.enabled is not None:
            enabled = enabled and level.enabled if level is model else level.enabled
        if level.layers is not None:
            layers = frozenset(level.layers)
        if level.similarity_threshold is not None:
            threshold = level.similarity_threshold
        if level.ttl_s is not None:
            ttl_s = level.ttl_s
        if level.hit_billing is not None:
            billing = level.hit_billing
        if level.namespace is not None and level is tenant:  # sharing is the tenant's opt-in only
            namespace = level.namespace
    return CacheSettings(enabled, layers, threshold, ttl_s, billing, namespace)

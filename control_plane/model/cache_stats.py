"""A tenant's response-cache counters (`control_plane.keys.tenant_cache_stats`), with derived figures.

The counters are the fields of `control_plane.keys.CACHE_STAT_FIELDS`, one int each (0 when the hash
has none yet); ext_proc's cache increments them, the admin API reads and resets them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, computed_field

from control_plane.model.price import PICO_PER_MICRO

__all__ = ["CacheStats"]


class CacheStats(BaseModel):
    # "ignore": a dump carries the computed fields too, and must validate back into the same value.
    model_config = ConfigDict(frozen=True, extra="ignore")

    tenant: str
    hits_exact: int = Field(default=0, ge=0, description="answered by the exact layer")
    hits_semantic: int = Field(default=0, ge=0, description="answered by the semantic layer")
    misses: int = Field(default=0, ge=0, description="looked up, not found: went upstream")
    bypasses: int = Field(default=0, ge=0, description="not looked up (no-cache, caching off, ...)")
    stored: int = Field(default=0, ge=0, description="answers written to the cache")
    saved_prompt_tokens: int = Field(default=0, ge=0, description="upstream prompt tokens hits did not spend")
    saved_completion_tokens: int = Field(default=0, ge=0)
    saved_cost_pico: int = Field(
        default=0, ge=0, description="what hits would have cost at full price minus what they were billed"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def hits(self) -> int:
        return self.hits_exact + self.hits_semantic

    @computed_field  # type: ignore[prop-decorator]
    @property
    def hit_rate(self) -> float:
        """hits / (hits + misses); 0 when there were no lookups. Bypasses are not lookups."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def saved_cost_micro(self) -> int:
        """`saved_cost_pico` in micro-units, rounded down."""
        return self.saved_cost_pico // PICO_PER_MICRO

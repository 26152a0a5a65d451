"""Gateway traffic over time, for the admin dashboard: requests, errors, tokens, cost and latency per
time bucket, and the busiest tenants and models of a window.

ext_proc counts these as it writes each ledger record (`ext_proc.governance.traffic_stats`) and adds them
to Redis every few seconds; the admin reads them back (`control_plane.traffic_stats`). They are
statistics: the ledger stays the billing truth (a replica that dies loses at most its last few seconds
of counts, never a ledger record).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["LATENCY_BUCKETS_MS", "TopEntry", "TrafficBucket", "TrafficSeries", "TrafficWindow"]

LATENCY_BUCKETS_MS: tuple[int, ...] = (
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    30_000,
    60_000,
    120_000,
    300_000,
)
"""Upper bounds of the latency histogram (request start to ledger record), plus an implicit +inf."""


class TrafficWindow(StrEnum):
    """What a dashboard shows: the last hour by minute, the last day by hour, the last week by hour."""

    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"

    @property
    def step_s(self) -> int:
        return 60 if self is TrafficWindow.HOUR else 3_600

    @property
    def buckets(self) -> int:
        return {TrafficWindow.HOUR: 60, TrafficWindow.DAY: 24, TrafficWindow.WEEK: 168}[self]


class TrafficBucket(BaseModel):
    """One time bucket (a minute or an hour, starting at `start`, UTC)."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    requests: int = 0
    errors: int = Field(default=0, description="upstream errors, cut or incomplete responses, lost")
    rejected: int = Field(default=0, description="refused by the gateway (quota, budget, bad request)")
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_pico: int = 0
    latency_p50_ms: float | None = Field(default=None, description="None when nothing was served")
    latency_p95_ms: float | None = None

    @property
    def error_rate(self) -> float:
        """Errors per request (rejections are not errors: the gateway did what it was told)."""
        return self.errors / self.requests if self.requests else 0.0


class TopEntry(BaseModel):
    """A tenant's or a model's totals over a window."""

    model_config = ConfigDict(frozen=True)

    name: str
    requests: int = 0
    tokens: int = 0
    cost_pico: int = 0


class TrafficSeries(BaseModel):
    """A window's buckets (oldest first, every bucket present, empty ones zero) and its top 10s."""

    model_config = ConfigDict(frozen=True)

    window: TrafficWindow
    buckets: tuple[TrafficBucket, ...]
    top_tenants: tuple[TopEntry, ...] = ()
    top_models: tuple[TopEntry, ...] = ()

"""The degraded per-replica limiter used while Redis is unreachable (`quota_failure_mode = local`).

Each replica enforces a 1/N share (N = `quota_degraded_replicas`, floor division) of every dimension:
- per-minute buckets: the same token buckets as the Redis script, with capacity and refill limit // N;
- concurrency: this replica's open local admissions < max_concurrent_requests // N;
- daily / monthly tokens and the monthly budget: the last *remaining* value Redis reported for the
  tenant, // N, minus what this replica admitted locally since. A dimension Redis never reported
  refuses (the caller answers 503): degraded mode is never unlimited.
A share that rounds down to 0 admits nothing on that dimension. Local admissions reserve only; their
actual usage reaches Redis through the ledger (spooled and replayed) when Redis is back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from control_plane.model import Limits

__all__ = ["LocalLimiter", "LocalRefusal"]

_SCALE = 60_000


@dataclass(frozen=True, slots=True)
class LocalRefusal:
    """Why the local limiter refused: the dimension (as the Redis script names it) and the wait in ms."""

    dim: str
    retry_ms: int
    """-1: waiting does not help; for `unknown`, Redis never reported the dimension."""


@dataclass(slots=True)
class _TenantState:
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    """dim → (scaled level, monotonic ms of that level)."""
    seen: dict[str, int | None] = field(default_factory=dict)
    """'daily' | 'monthly' | 'budget' → the remaining value Redis last reported (None: no limit then)."""
    used: dict[str, int] = field(default_factory=dict)
    """Same keys → what this replica admitted locally since that report."""


class LocalLimiter:
    """Per-replica share of every limit; the state lives in this process only."""

    def __init__(self, *, replicas: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._replicas = max(1, replicas)
        self._clock = clock
        self._tenants: dict[str, _TenantState] = {}

    def observe(
        self, tenant: str, *, daily: int | None, monthly: int | None, budget_pico: int | None
    ) -> None:
        """Remember the remaining day/month tokens and budget Redis just reported for `tenant`."""
        state = self._tenants.setdefault(tenant, _TenantState())
        state.seen = {"daily": daily, "monthly": monthly, "budget": budget_pico}
        state.used = {}

    def admit(
        self, tenant: str, limits: Limits, *, prompt: int, output: int, cost_pico: int, inflight: int
    ) -> LocalRefusal | None:
        """Admit (and count) the request, or say why not. `inflight` = this replica's open local leases."""
        state = self._tenants.setdefault(tenant, _TenantState())
        share = self._replicas
        now = self._clock() * 1000.0
        buckets = {
            "rq": (limits.requests_per_minute, 1),
            "in": (limits.input_tokens_per_minute, prompt),
            "out": (limits.output_tokens_per_minute, output),
            "tok": (limits.tokens_per_minute, prompt + output),
        }
        levels: dict[str, float] = {}
        for dim, (limit, amount) in buckets.items():
            if limit is None:
                continue
            cap = limit // share
            level, stamp = state.buckets.get(dim, (0.0, now))
            level = max(0.0, level - max(0.0, now - stamp) * cap)
            levels[dim] = level
            need = level + amount * _SCALE - cap * _SCALE
            if need > 0:
                return LocalRefusal(dim, -1 if amount > cap or cap == 0 else math.ceil(need / cap))
        if (
            limits.max_concurrent_requests is not None
            and inflight + 1 > limits.max_concurrent_requests // share
        ):
            return LocalRefusal("conc", 1000)
        wants = {
            "daily": (limits.daily_tokens, prompt + output),
            "monthly": (limits.monthly_tokens, prompt + output),
            "budget": (limits.monthly_budget_micro, cost_pico),
        }
        for dim, (limit, want) in wants.items():
            if limit is None:
                continue
            seen = state.seen.get(dim)
            if seen is None:
                return LocalRefusal("unknown", -1)
            if want > seen // share - state.used.get(dim, 0):
                return LocalRefusal(dim, -1)
        for dim, level in levels.items():
            state.buckets[dim] = (level + buckets[dim][1] * _SCALE, now)
        for dim, (limit, want) in wants.items():
            if limit is not None:
                state.used[dim] = state.used.get(dim, 0) + want
        return None

"""Reads the gateway's traffic counters (written by `ext_proc.governance.traffic_stats`) back as a
`TrafficSeries` for the admin dashboard.

A window's buckets are its last `buckets` UTC minutes (1h) or hours (24h, 7d), the current one last;
a bucket nobody wrote is all zeros. Latency quantiles come from each bucket's histogram: the quantile's
rank is found in the cumulative counts and interpolated linearly inside the histogram bucket that holds
it (between its lower and upper bound; the first bucket starts at 0 ms). A quantile that falls in the
overflow bucket (slower than the last bound) is reported as the last bound, i.e. "at least that".

Top models are summed from the window's bucket hashes. Top tenants come from the per-hour tenant sorted
sets of every hour the window touches (for the 1h window that is the current and the previous hour, so
it can include up to 59 minutes more than the window): a server-side script unions the hours' request
counts, takes the 10 busiest, and adds up only their tokens and cost, so 10,000 tenants stay cheap.
Everything is read in one pipeline.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError

from control_plane.errors import StoreUnavailableError
from control_plane.keys import (
    TRAFFIC_FIELDS,
    traffic_hour,
    traffic_latency_field,
    traffic_minute,
    traffic_tenant_top,
)
from control_plane.model import LATENCY_BUCKETS_MS, TopEntry, TrafficBucket, TrafficSeries, TrafficWindow
from control_plane.redis_client import RedisClient, queue_script

__all__ = ["TOP_N", "RedisTrafficStats", "latency_quantile"]

TOP_N = 10

_TOP_TENANTS = """
local n, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local tmp = KEYS[3 * n + 1]
local hours = {}
for i = 1, n do hours[i] = KEYS[i] end
redis.call('ZUNIONSTORE', tmp, n, unpack(hours))
redis.call('PEXPIRE', tmp, 60000)  -- never left behind, whatever happens below
local top = redis.call('ZREVRANGE', tmp, 0, limit - 1, 'WITHSCORES')
redis.call('DEL', tmp)
local out = {}
for j = 1, #top, 2 do
  local tokens, cost = 0, 0
  for i = 1, n do
    local t = redis.call('ZSCORE', KEYS[n + i], top[j])
    if t then tokens = tokens + tonumber(t) end
    local c = redis.call('ZSCORE', KEYS[2 * n + i], top[j])
    if c then cost = cost + tonumber(c) end
  end
  out[#out + 1] = top[j]
  out[#out + 1] = top[j + 1]
  out[#out + 1] = string.format('%.0f', tokens)
  out[#out + 1] = string.format('%.0f', cost)
end
return out
"""


def _now() -> datetime:
    return datetime.now(UTC)


def latency_quantile(counts: Sequence[int], q: float) -> float | None:
    """The `q` quantile (0..1) of a latency histogram over `LATENCY_BUCKETS_MS` (+ overflow), in ms,
    interpolated inside its bucket; None when the histogram is empty (see the module doc)."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(LATENCY_BUCKETS_MS):
                return float(LATENCY_BUCKETS_MS[-1])
            lower = LATENCY_BUCKETS_MS[index - 1] if index else 0
            upper = LATENCY_BUCKETS_MS[index]
            return lower + (upper - lower) * max(rank - seen, 0) / count
        seen += count
    return float(LATENCY_BUCKETS_MS[-1])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _number(value: bytes | str | int | float | None) -> int:
    if value is None:
        return 0
    return round(float(_text(value) if isinstance(value, bytes | str) else value))


class RedisTrafficStats:
    """`TrafficStatsPort` over Redis: a window's buckets and top 10s, in one pipeline."""

    def __init__(self, client: RedisClient, *, clock: Callable[[], datetime] = _now) -> None:
        self._client = client
        self._clock = clock
        self._top_tenants = client.register_script(_TOP_TENANTS)

    async def series(self, window: TrafficWindow) -> TrafficSeries:
        """The window's buckets (oldest first, zeros where nothing was written) and its top 10s.

        Raises `StoreUnavailableError` when Redis cannot be reached."""
        now = self._clock().astimezone(UTC)
        step = timedelta(seconds=window.step_s)
        last = now.replace(second=0, microsecond=0)
        if window is not TrafficWindow.HOUR:
            last = last.replace(minute=0)
        starts = [last - step * (window.buckets - 1 - i) for i in range(window.buckets)]
        hours = list(dict.fromkeys(f"{start:%Y%m%d%H}" for start in starts))  # oldest first, no repeats
        if window is TrafficWindow.HOUR:
            keys = [traffic_minute(f"{start:%Y%m%d%H%M}") for start in starts]
        else:
            keys = [traffic_hour(hour) for hour in hours]
        zset_keys = [
            traffic_tenant_top(hour, metric) for metric in ("requests", "tokens", "cost") for hour in hours
        ]
        scratch = traffic_tenant_top(f"tmp:{secrets.token_hex(8)}", "union")
        try:
            async with asyncio.timeout(10.0), self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hgetall(key)
                await queue_script(
                    pipe, self._top_tenants, keys=[*zset_keys, scratch], args=[len(hours), TOP_N]
                )
                results = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreUnavailableError("the traffic statistics store (Redis/Valkey) is unreachable") from exc
        hashes: list[dict[str, str]] = [
            {_text(field): _text(value) for field, value in raw.items()} for raw in results[: len(keys)]
        ]
        return TrafficSeries(
            window=window,
            buckets=tuple(_bucket(start, counts) for start, counts in zip(starts, hashes, strict=True)),
            top_tenants=_tenants(results[len(keys)]),
            top_models=_models(hashes),
        )


def _bucket(start: datetime, counts: Mapping[str, str]) -> TrafficBucket:
    histogram = [_number(counts.get(traffic_latency_field(i))) for i in range(len(LATENCY_BUCKETS_MS) + 1)]
    values = {field: _number(counts.get(field)) for field in TRAFFIC_FIELDS}
    return TrafficBucket(
        start=start,
        latency_p50_ms=latency_quantile(histogram, 0.50),
        latency_p95_ms=latency_quantile(histogram, 0.95),
        **values,
    )


def _tenants(raw: Sequence[bytes | str]) -> tuple[TopEntry, ...]:
    return tuple(
        TopEntry(
            name=_text(raw[i]),
            requests=_number(raw[i + 1]),
            tokens=_number(raw[i + 2]),
            cost_pico=_number(raw[i + 3]),
        )
        for i in range(0, len(raw) - 3, 4)
    )


def _models(hashes: Sequence[Mapping[str, str]]) -> tuple[TopEntry, ...]:
    totals: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for counts in hashes:
        for field, value in counts.items():
            if field.startswith("m|"):
                model, _, metric = field[2:].rpartition("|")
                totals[model][metric] += _number(value)
    ranked = sorted(totals.items(), key=lambda item: (-item[1]["requests"], item[0]))[:TOP_N]
    return tuple(
        TopEntry(
            name=model or "(none)",
            requests=metric["requests"],
            tokens=metric["tokens"],
            cost_pico=metric["cost_pico"],
        )
        for model, metric in ranked
    )

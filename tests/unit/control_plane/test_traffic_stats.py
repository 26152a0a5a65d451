"""Reading traffic statistics back (`RedisTrafficStats`) from what the ext_proc recorder wrote to a real
Valkey: the series' shape and zero-filling per window, latency quantiles, and the top tenants and models
summed over several hours."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from control_plane.errors import StoreUnavailableError
from control_plane.model import LATENCY_BUCKETS_MS, TrafficWindow
from control_plane.redis_client import connect
from control_plane.traffic_stats import RedisTrafficStats, latency_quantile
from ext_proc.governance.traffic_stats import TrafficStatsRecorder

NOW = datetime(2026, 11, 21, 12, 30, 45, tzinfo=UTC)


def record(
    finished: datetime,
    *,
    tenant: str = "acme",
    model: str = "gpt-x",
    outcome: str = "ok",
    latency_ms: float = 80,
    tokens: tuple[int, int] = (10, 5),
    cost: int = 1_000_000,
) -> dict[str, object]:
    return {
        "tenant": tenant,
        "model": model,
        "outcome": outcome,
        "started_at": (finished - timedelta(milliseconds=latency_ms)).isoformat(),
        "finished_at": finished.isoformat(),
        "prompt_tokens": tokens[0],
        "completion_tokens": tokens[1],
        "cost_pico": cost,
        "cache_hit": outcome == "cache_hit",
    }


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    redis_client = connect(valkey_url)
    await redis_client.flushdb()
    yield redis_client
    await redis_client.aclose()


async def write(client: aioredis.Redis, *records: dict[str, object]) -> None:
    recorder = TrafficStatsRecorder(client)
    for item in records:
        recorder.record(item)
    assert await recorder.flush()


def test_quantiles_interpolate_inside_the_histogram_bucket() -> None:
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    assert latency_quantile(counts, 0.5) is None
    counts[2] = 10  # ten requests in (50, 100] ms
    assert latency_quantile(counts, 0.5) == pytest.approx(75.0)
    assert latency_quantile(counts, 0.95) == pytest.approx(97.5)
    counts[0] = 10  # ten more in [0, 25]
    assert latency_quantile(counts, 0.5) == pytest.approx(25.0)
    counts[-1] = 100  # most slower than the last bound: reported as the last bound
    assert latency_quantile(counts, 0.95) == float(LATENCY_BUCKETS_MS[-1])


async def test_an_empty_store_gives_every_bucket_as_zeros(client: aioredis.Redis) -> None:
    stats = RedisTrafficStats(client, clock=lambda: NOW)
    for window, count, step in ((TrafficWindow.HOUR, 60, 60), (TrafficWindow.DAY, 24, 3600)):
        series = await stats.series(window)
        assert len(series.buckets) == count
        starts = [b.start for b in series.buckets]
        assert starts == sorted(starts)
        assert all((b - a).total_seconds() == step for a, b in itertools.pairwise(starts))
        assert all(b.requests == 0 and b.latency_p95_ms is None for b in series.buckets)
        assert series.top_tenants == ()
        assert series.top_models == ()
    week = await stats.series(TrafficWindow.WEEK)
    assert len(week.buckets) == 168
    assert week.buckets[-1].start == datetime(2026, 11, 21, 12, tzinfo=UTC)


async def test_the_hour_window_counts_by_minute(client: aioredis.Redis) -> None:
    await write(
        client,
        record(NOW - timedelta(minutes=5), latency_ms=80),
        record(NOW - timedelta(minutes=5), outcome="upstream_error", latency_ms=900),
        record(NOW - timedelta(minutes=5), outcome="rejected", tokens=(0, 0), cost=0),
        record(NOW, outcome="cache_hit", model="m2"),
        record(NOW - timedelta(minutes=90)),  # before the window
    )
    series = await RedisTrafficStats(client, clock=lambda: NOW).series(TrafficWindow.HOUR)
    assert series.buckets[-1].start == datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
    five_ago = series.buckets[-6]
    assert five_ago.start == datetime(2026, 11, 21, 12, 25, tzinfo=UTC)
    assert (five_ago.requests, five_ago.errors, five_ago.rejected) == (3, 1, 1)
    assert five_ago.error_rate == pytest.approx(1 / 3)
    assert five_ago.latency_p50_ms is not None
    assert 50 <= five_ago.latency_p50_ms <= 100
    assert five_ago.latency_p95_ms is not None
    assert 500 <= five_ago.latency_p95_ms <= 1000
    assert series.buckets[-1].cache_hits == 1
    assert sum(b.requests for b in series.buckets) == 4
    assert [(m.name, m.requests) for m in series.top_models] == [("gpt-x", 3), ("m2", 1)]


async def test_top_tenants_and_models_over_several_hours(client: aioredis.Redis) -> None:
    records = []
    for hours_ago in range(5):
        at = NOW - timedelta(hours=hours_ago)
        records += [record(at, tenant="big", tokens=(100, 50), cost=2_000_000)] * 3
        records.append(record(at, tenant="small", model="m2", cost=500))
    for i in range(12):  # more tenants than the top 10
        records.append(record(NOW - timedelta(hours=2), tenant=f"t{i:02d}", model=f"m-{i:02d}"))
    records.append(record(NOW - timedelta(days=3)))  # outside 24h, inside 7d
    await write(client, *records)
    stats = RedisTrafficStats(client, clock=lambda: NOW)
    day = await stats.series(TrafficWindow.DAY)
    assert len(day.top_tenants) == 10
    first, second = day.top_tenants[:2]
    assert (first.name, first.requests, first.tokens, first.cost_pico) == ("big", 15, 2_250, 30_000_000)
    assert (second.name, second.requests, second.cost_pico) == ("small", 5, 2_500)
    assert day.top_models[0].name == "gpt-x"
    assert day.top_models[0].requests == 15
    assert day.top_models[1].name == "m2"
    assert len(day.top_models) == 10
    assert sum(b.requests for b in day.buckets) == 32
    week = await stats.series(TrafficWindow.WEEK)
    assert sum(b.requests for b in week.buckets) == 33
    assert [t.name for t in week.top_tenants][:2] == ["big", "small"]
    assert not [key async for key in client.scan_iter("tw:{stats}:th:tmp:*")]  # the scratch key is gone


async def test_an_unreachable_store_raises_store_unavailable() -> None:
    dead = connect("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(StoreUnavailableError):
            await RedisTrafficStats(dead, clock=lambda: NOW).series(TrafficWindow.DAY)
    finally:
        await dead.aclose()

"""`CacheStatsRecorder` on a real (embedded) Valkey: counts accumulate in memory, a flush adds them to
each tenant's hash and clears them, and counts Redis did not take are kept for the next flush."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from control_plane.keys import CACHE_STAT_FIELDS, tenant_cache_stats
from control_plane.redis_client import connect
from ext_proc.cache.stats import CacheStatsRecorder
from tests.support.valkey import ValkeyServer


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


async def stored(client: aioredis.Redis, tenant: str) -> dict[str, int]:
    raw = await client.hgetall(tenant_cache_stats(tenant))
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


def test_counts_accumulate_per_tenant_and_field() -> None:
    stats = CacheStatsRecorder(None)
    stats.count("acme", "hits_exact")
    stats.count("acme", "hits_exact")
    stats.count("acme", "saved_cost_pico", 1_500)
    stats.count("beta", "misses", 3)
    stats.count("beta", "stored", 0)  # zero is not recorded
    assert stats.pending("acme") == {"hits_exact": 2, "saved_cost_pico": 1_500}
    assert stats.pending("beta") == {"misses": 3}
    assert stats.pending("nobody") == {}


def test_every_stat_field_is_accepted() -> None:
    stats = CacheStatsRecorder(None)
    for field in CACHE_STAT_FIELDS:
        stats.count("acme", field)
    assert stats.pending("acme") == dict.fromkeys(CACHE_STAT_FIELDS, 1)


def test_unknown_field_raises() -> None:
    stats = CacheStatsRecorder(None)
    with pytest.raises(ValueError, match="unknown cache stat 'hits'"):
        stats.count("acme", "hits")
    assert stats.pending("acme") == {}


def test_max_tenants_bounds_memory() -> None:
    stats = CacheStatsRecorder(None, max_tenants=2)
    for tenant in ("a", "b", "c"):
        stats.count(tenant, "misses")
    stats.count("a", "misses")  # a tenant already kept still counts
    assert (stats.pending("a"), stats.pending("b"), stats.pending("c")) == ({"misses": 2}, {"misses": 1}, {})


async def test_flush_without_client_keeps_counts() -> None:
    stats = CacheStatsRecorder(None)
    assert await stats.flush() is True  # nothing pending
    stats.count("acme", "misses")
    assert await stats.flush() is False
    assert stats.pending("acme") == {"misses": 1}


async def test_flush_writes_hincrby_to_the_tenants_hash_and_clears(client: aioredis.Redis) -> None:
    await client.hset(tenant_cache_stats("acme"), mapping={"hits_exact": 10})
    stats = CacheStatsRecorder(client)
    stats.count("acme", "hits_exact", 2)
    stats.count("acme", "saved_prompt_tokens", 140)
    stats.count("beta", "bypasses")
    assert await stats.flush() is True
    assert await stored(client, "acme") == {"hits_exact": 12, "saved_prompt_tokens": 140}
    assert await stored(client, "beta") == {"bypasses": 1}
    assert stats.pending("acme") == {}
    assert stats.pending("beta") == {}
    assert await stats.flush() is True  # nothing new: nothing added twice
    assert await stored(client, "acme") == {"hits_exact": 12, "saved_prompt_tokens": 140}
    stats.count("acme", "hits_exact")
    assert await stats.flush() is True
    assert (await stored(client, "acme"))["hits_exact"] == 13


async def test_failing_redis_keeps_counts_for_the_next_flush(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = ValkeyServer(tmp_path)
    server.start()
    client = connect(server.url)
    try:
        stats = CacheStatsRecorder(client)
        stats.count("acme", "hits_exact")
        assert await stats.flush() is True
        server.stop()  # Redis goes down
        stats.count("acme", "misses", 2)
        stats.count("beta", "stored")
        assert await stats.flush() is False
        assert stats.pending("acme") == {"misses": 2}
        assert stats.pending("beta") == {"stored": 1}
        assert "cache stats not written" in caplog.text
        stats.count("acme", "misses")  # counted while Redis was down
        server.start()  # back, empty (no persistence)
        assert await stats.flush() is True
        assert await stored(client, "acme") == {"misses": 3}
        assert await stored(client, "beta") == {"stored": 1}
        assert stats.pending("acme") == {}
    finally:
        await client.aclose()
        server.stop()


async def test_run_flusher_flushes_every_interval(client: aioredis.Redis) -> None:
    stats = CacheStatsRecorder(client, interval_s=0.02)
    task = asyncio.create_task(stats.run_flusher())
    try:
        stats.count("acme", "stored")
        for _ in range(100):
            await asyncio.sleep(0.01)
            if await stored(client, "acme"):
                break
        assert await stored(client, "acme") == {"stored": 1}
        assert stats.pending("acme") == {}
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


class _HangingPipeline:
    """A pipeline whose `execute` never answers (a Redis that accepted the connection, then stalled)."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str, int]] = []

    async def __aenter__(self) -> _HangingPipeline:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    def hincrby(self, key: str, field: str, amount: int) -> None:
        self.commands.append((key, field, amount))

    async def execute(self) -> list[int]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class _HangingRedis:
    def __init__(self) -> None:
        self.pipelines: list[_HangingPipeline] = []

    def pipeline(self, *, transaction: bool) -> _HangingPipeline:
        assert transaction is False
        self.pipelines.append(_HangingPipeline())
        return self.pipelines[-1]


async def test_flush_times_out_and_keeps_counts(caplog: pytest.LogCaptureFixture) -> None:
    client = _HangingRedis()
    stats = CacheStatsRecorder(client, timeout_s=0.05)  # type: ignore[arg-type]
    stats.count("acme", "misses", 2)
    async with asyncio.timeout(2.0):  # without its own timeout the flush would hang here
        assert await stats.flush() is False
    assert client.pipelines[0].commands == [(tenant_cache_stats("acme"), "misses", 2)]
    assert stats.pending("acme") == {"misses": 2}
    assert "cache stats not written (timed out)" in caplog.text
    stats.count("acme", "misses")
    async with asyncio.timeout(2.0):
        assert await stats.flush() is False
    assert client.pipelines[1].commands == [(tenant_cache_stats("acme"), "misses", 3)]

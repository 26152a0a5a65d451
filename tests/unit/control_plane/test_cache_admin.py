"""CacheAdmin on a real (embedded) Valkey: counters as ext_proc writes them, purges and the feed."""

from collections.abc import AsyncIterator
from typing import cast

import pytest
import redis.asyncio as aioredis

from control_plane import cache_admin
from control_plane.cache_admin import CacheAdmin
from control_plane.cache_feed import CACHE_FEED_MAXLEN, NamespacePurged, decode_feed_event
from control_plane.errors import StoreUnavailableError
from control_plane.keys import CACHE_FEED, cache_generation, tenant_cache_stats
from control_plane.launcher.readiness import free_port
from control_plane.model import CacheStats
from control_plane.redis_client import connect


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def admin(client: aioredis.Redis) -> CacheAdmin:
    return CacheAdmin(client)


async def _feed(client: aioredis.Redis) -> list[object]:
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], await client.xrange(CACHE_FEED))
    return [decode_feed_event(fields) for _id, fields in entries]


async def test_stats_read_the_counters_ext_proc_increments(client: aioredis.Redis, admin: CacheAdmin) -> None:
    key = tenant_cache_stats("acme")
    for field, amount in (("hits_exact", 3), ("hits_semantic", 1), ("misses", 4), ("bypasses", 2),
                          ("stored", 4), ("saved_prompt_tokens", 1200), ("saved_completion_tokens", 300),
                          ("saved_cost_pico", 2_999_999), ("hits_exact", 2)):  # fmt: skip
        await client.hincrby(key, field, amount)
    await client.hset(key, "not_ours", "x")  # a field we do not know is ignored
    stats = await admin.stats("acme")
    assert stats == CacheStats(
        tenant="acme", hits_exact=5, hits_semantic=1, misses=4, bypasses=2, stored=4,
        saved_prompt_tokens=1200, saved_completion_tokens=300, saved_cost_pico=2_999_999,
    )  # fmt: skip
    assert (stats.hits, stats.hit_rate, stats.saved_cost_micro) == (6, 0.6, 2)


async def test_a_tenant_without_counters_has_zero_stats(admin: CacheAdmin) -> None:
    stats = await admin.stats("quiet")
    assert stats == CacheStats(tenant="quiet")
    assert (stats.hits, stats.hit_rate, stats.saved_cost_micro) == (0, 0.0, 0)


async def test_stats_many_keeps_the_order_and_reset_zeroes_one_tenant(
    client: aioredis.Redis, admin: CacheAdmin
) -> None:
    await client.hincrby(tenant_cache_stats("a"), "misses", 1)
    await client.hincrby(tenant_cache_stats("b"), "hits_exact", 7)
    many = await admin.stats_many(["b", "nobody", "a"])
    assert [(s.tenant, s.hits, s.misses) for s in many] == [("b", 7, 0), ("nobody", 0, 0), ("a", 0, 1)]
    assert await admin.stats_many([]) == []
    await admin.reset_stats("b")
    assert (await admin.stats("b")).hits == 0
    assert (await admin.stats("a")).misses == 1


async def test_purge_bumps_the_tenant_namespace_and_appends_the_feed_event(
    client: aioredis.Redis, admin: CacheAdmin
) -> None:
    assert await admin.purge_tenant("acme") == 1
    assert await admin.purge_tenant("acme") == 2
    assert await client.get(cache_generation("t.acme")) == b"2"
    assert await client.get(cache_generation("t.other")) is None
    assert await _feed(client) == [NamespacePurged("t.acme", 1), NamespacePurged("t.acme", 2)]


async def test_purge_namespace_bumps_the_shared_namespace_only(
    client: aioredis.Redis, admin: CacheAdmin
) -> None:
    await client.set(cache_generation("s.faq"), 41)  # ext_proc may have created it already
    assert await admin.purge_namespace("faq") == 42
    assert await client.get(cache_generation("t.faq")) is None
    assert await _feed(client) == [NamespacePurged("s.faq", 42)]


async def test_purges_trim_the_feed_approximately(
    client: aioredis.Redis, admin: CacheAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CACHE_FEED_MAXLEN > 40
    monkeypatch.setattr(cache_admin, "CACHE_FEED_MAXLEN", 5)
    await client.config_set("stream-node-max-entries", 5)  # MAXLEN ~ trims whole nodes only
    try:
        for _ in range(40):
            await admin.purge_namespace("faq")
        assert 5 <= await client.xlen(CACHE_FEED) < 40
    finally:
        await client.config_set("stream-node-max-entries", 100)


async def test_purges_go_to_the_cache_redis_and_counters_stay_with_governance(
    client: aioredis.Redis, valkey_url: str
) -> None:
    entries = connect(valkey_url.rsplit("/", 1)[0] + "/1")  # another database stands for another server
    await entries.flushdb()
    try:
        admin = CacheAdmin(client, entries=entries)
        await client.hincrby(tenant_cache_stats("acme"), "misses", 3)
        assert await admin.purge_tenant("acme") == 1
        assert await entries.get(cache_generation("t.acme")) == b"1"
        assert await _feed(entries) == [NamespacePurged("t.acme", 1)]
        assert await client.get(cache_generation("t.acme")) is None
        assert await client.xlen(CACHE_FEED) == 0
        assert (await admin.stats("acme")).misses == 3
    finally:
        await entries.flushdb()
        await entries.aclose()


async def test_a_purge_not_announced_is_still_a_purge(client: aioredis.Redis) -> None:
    await client.set(CACHE_FEED, "not a stream")  # XADD fails (WRONGTYPE); INCR does not
    admin = CacheAdmin(client)
    assert await admin.purge_tenant("acme") == 1
    assert await client.get(cache_generation("t.acme")) == b"1"


async def test_an_unreachable_store_is_reported() -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    admin = CacheAdmin(client)
    for call in (admin.stats("a"), admin.stats_many(["a"]), admin.purge_tenant("a"), admin.reset_stats("a")):
        with pytest.raises(StoreUnavailableError):
            await call
    await client.aclose()

"""The Redis registry store and feed against a real Valkey."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from control_plane.feed import SnapshotFeed
from control_plane.launcher import StackInfo
from control_plane.model import Backend, Model, RegistrySpec, Snapshot
from control_plane.registry import RedisRegistryStore, Registry

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis_db(info: StackInfo) -> AsyncIterator[aioredis.Redis]:
    """A separate logical database of the stack's Valkey, flushed."""
    client = aioredis.Redis.from_url(info.redis_url.rsplit("/", 1)[0] + "/5")
    await client.flushdb()
    yield client
    await client.aclose()


def _spec(*names: str) -> RegistrySpec:
    backend = Backend(name="b", base_url="http://127.0.0.1:1/v1")
    return RegistrySpec(models=tuple(Model(name=n, backends=(backend,)) for n in names))


async def test_compare_and_swap_refuses_a_stale_version(redis_db: aioredis.Redis) -> None:
    store = RedisRegistryStore(redis_db)
    assert (await store.load()).version == 0
    assert await store.compare_and_swap(0, Snapshot(version=1, spec=_spec("a")))
    assert not await store.compare_and_swap(0, Snapshot(version=1, spec=_spec("b")))
    loaded = await store.load()
    assert loaded.version == 1
    assert [m.name for m in loaded.models] == ["a"]


async def test_concurrent_writers_on_real_redis_never_lose_writes(redis_db: aioredis.Redis) -> None:
    registries = [Registry(RedisRegistryStore(redis_db)) for _ in range(4)]
    await asyncio.gather(*(registries[i % 4].put_model(_spec(f"m{i}").models[0]) for i in range(20)))
    snapshot = await registries[0].snapshot()
    assert snapshot.version == 20
    assert len(snapshot.models) == 20


async def test_feed_sees_a_write_well_within_a_second(redis_db: aioredis.Redis) -> None:
    registry = Registry(RedisRegistryStore(redis_db))
    await registry.apply(_spec("first"))
    feed = SnapshotFeed(redis_db, poll_interval_s=30.0)  # long poll: only pub/sub can be this fast
    updates = feed.watch()
    assert (await anext(updates)).version == 1
    started = time.monotonic()
    await registry.apply(_spec("first", "second"))
    second = await asyncio.wait_for(anext(updates), timeout=5.0)
    elapsed = time.monotonic() - started
    assert second.version == 2
    assert [m.name for m in second.models] == ["first", "second"]
    assert elapsed < 0.5, f"change took {elapsed:.3f}s to arrive"
    await updates.aclose()

"""`IndexFollower` on a real (embedded) Valkey: catch-up from the beginning, live adds seen by every
replica within a second, purges, malformed events, resuming after Redis errors, skipping an event that
fails, surviving (with backoff) an unexpected read error, and stopping only when cancelled."""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis

from control_plane.cache_admin import purge_cache_namespace
from control_plane.cache_feed import EntryAdded, encode_feed_event
from control_plane.keys import CACHE_FEED
from control_plane.redis_client import connect
from ext_proc.cache.contracts import CachedAnswer, CacheEntry
from ext_proc.cache.index_feed import IndexFollower
from ext_proc.cache.similarity import vector_to_bytes
from ext_proc.cache.store import RedisAnswerStore
from ext_proc.cache.vector_index import PartitionedVectorIndex
from tests.support.valkey import ValkeyServer

NS = "t.acme"
EMBEDDER = "mini"
DIM = 4
VECTOR = np.asarray([0.5, 0.5, 0.5, 0.5], dtype=np.float32)


def entry(entry_id: str, generation: int = 0) -> CacheEntry:
    answer = CachedAnswer(content="4", model="m", prompt_tokens=3, completion_tokens=1)
    return CacheEntry(entry_id, NS, "part-1", "what is 2+2", answer, generation, time.time())


def new_index() -> PartitionedVectorIndex:
    return PartitionedVectorIndex(dimensions=DIM, embedder=EMBEDDER)


def found(index: PartitionedVectorIndex) -> list[str]:
    return [entry_id for entry_id, _ in index.search("part-1", VECTOR, threshold=0.9, limit=100)]


async def wait_for(condition: Callable[[], bool], timeout_s: float = 1.0) -> float:
    """Seconds until `condition()` holds (polled every 5 ms); fails past `timeout_s`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "condition not reached in time"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


@contextlib.asynccontextmanager
async def following(
    client: aioredis.Redis, index: PartitionedVectorIndex, **options: int
) -> AsyncIterator[IndexFollower]:
    follower = IndexFollower(client, index, **options)
    task = asyncio.create_task(follower.run())
    try:
        yield follower
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_two_replicas_see_an_add_within_a_second(client: aioredis.Redis) -> None:
    store = RedisAnswerStore(client, timeout_s=2.0)
    first, second = new_index(), new_index()
    async with following(client, first, block_ms=200) as one, following(client, second, block_ms=200) as two:
        async with asyncio.timeout(2):
            await one.caught_up.wait()
            await two.caught_up.wait()
        assert await store.write(entry("e1"), VECTOR, ttl_s=60, embedder=EMBEDDER)
        assert await wait_for(lambda: found(first) == ["e1"] and found(second) == ["e1"]) < 1.0
        assert await purge_cache_namespace(client, NS) == 1
        await wait_for(lambda: len(first) == 0 and len(second) == 0)
        assert await store.write(entry("e2", generation=1), VECTOR, ttl_s=60, embedder=EMBEDDER)
        await wait_for(lambda: found(first) == ["e2"] and found(second) == ["e2"])


async def test_catch_up_from_the_beginning_on_start(client: aioredis.Redis) -> None:
    store = RedisAnswerStore(client, timeout_s=2.0)
    for number in range(12):
        assert await store.write(entry(f"e{number}"), VECTOR, ttl_s=60, embedder=EMBEDDER)
    assert await store.write(entry("no-vector"), None, ttl_s=60, embedder=EMBEDDER)
    expired = EntryAdded(NS, "part-1", "expired", 0, time.time() - 1, EMBEDDER, vector_to_bytes(VECTOR))
    await client.xadd(CACHE_FEED, encode_feed_event(expired))
    await client.xadd(CACHE_FEED, {"op": "unknown", "ns": NS, "gen": "0"})
    await client.xadd(CACHE_FEED, {"garbage": "1"})
    await client.xadd(
        CACHE_FEED, encode_feed_event(EntryAdded(NS, "part-1", "e1", 0, time.time() + 60, "other", b""))
    )
    index = new_index()
    async with following(client, index, batch=5, block_ms=100) as follower:  # several catch-up batches
        async with asyncio.timeout(2):
            await follower.caught_up.wait()
        assert sorted(found(index)) == sorted(f"e{n}" for n in range(12))
        assert len(index) == 12
        last = (await client.xrevrange(CACHE_FEED, count=1))[0][0]
        assert follower.last_id == last


async def test_resumes_after_redis_restarts(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = ValkeyServer(tmp_path_factory.mktemp("valkey-restart"))
    server.start()
    client = connect(server.url)
    try:
        store = RedisAnswerStore(client, timeout_s=2.0, retry_s=0.0)
        index = new_index()
        async with following(client, index, block_ms=100, retry_s=0.05, max_retry_s=0.2) as follower:
            async with asyncio.timeout(2):
                await follower.caught_up.wait()
            assert await store.write(entry("before"), VECTOR, ttl_s=60, embedder=EMBEDDER)
            await wait_for(lambda: found(index) == ["before"])
            server.stop()
            await asyncio.sleep(0.3)  # the follower fails and backs off
            server.start()  # empty again (no persistence): new stream ids are later in time
            assert await store.write(entry("after"), VECTOR, ttl_s=60, embedder=EMBEDDER)
            await wait_for(lambda: sorted(found(index)) == ["after", "before"], timeout_s=3.0)
    finally:
        await client.aclose()
        server.stop()


async def test_follows_with_a_resp2_client(valkey_url: str, client: aioredis.Redis) -> None:
    resp2 = aioredis.Redis.from_url(valkey_url, protocol=2)
    try:
        store = RedisAnswerStore(client, timeout_s=2.0)
        assert await store.write(entry("old"), VECTOR, ttl_s=60, embedder=EMBEDDER)
        index = new_index()
        async with following(resp2, index, block_ms=100) as follower:
            async with asyncio.timeout(2):
                await follower.caught_up.wait()
            assert found(index) == ["old"]
            assert await store.write(entry("new"), VECTOR, ttl_s=60, embedder=EMBEDDER)
            await wait_for(lambda: sorted(found(index)) == ["new", "old"])
    finally:
        await resp2.aclose()


class ExplodingIndex(PartitionedVectorIndex):
    """An index whose `add` raises `error` for an entry id starting with "boom"."""

    def __init__(self, error: BaseException | None = None) -> None:
        super().__init__(dimensions=DIM, embedder=EMBEDDER)
        self.error = error

    def add(self, event: EntryAdded, *, now: float | None = None) -> bool:
        if event.entry_id.startswith("boom"):
            raise self.error or RuntimeError(f"cannot index {event.entry_id}")
        return super().add(event, now=now)


def added_fields(entry_id: str) -> dict[str, bytes]:
    vector = vector_to_bytes(VECTOR)
    return encode_feed_event(EntryAdded(NS, "part-1", entry_id, 0, time.time() + 60, EMBEDDER, vector))


def feed_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "ext_proc.cache.index_feed" and record.levelno == logging.WARNING
    ]


async def test_an_event_that_fails_is_skipped_and_logged_once(
    client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ext_proc.cache.index_feed")
    for entry_id in ("boom-1", "ok-1", "boom-2", "ok-2"):
        await client.xadd(CACHE_FEED, added_fields(entry_id))
    index = ExplodingIndex()
    async with following(client, index, block_ms=100) as follower:
        async with asyncio.timeout(2):
            await follower.caught_up.wait()
        assert sorted(found(index)) == ["ok-1", "ok-2"]
        await client.xadd(CACHE_FEED, added_fields("boom-3"))
        await client.xadd(CACHE_FEED, added_fields("ok-3"))  # still following
        await wait_for(lambda: sorted(found(index)) == ["ok-1", "ok-2", "ok-3"])
        assert follower.last_id == (await client.xrevrange(CACHE_FEED, count=1))[0][0]
    (warning,) = feed_warnings(caplog)  # once per quiet period; the others at debug
    assert "RuntimeError: cannot index boom-1" in warning
    assert "Traceback" in warning
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("cannot index boom-2" in message for message in debug)
    assert any("cannot index boom-3" in message for message in debug)


async def test_an_unexpected_read_error_backs_off_and_resumes(
    client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    read = client.xread
    failing = False
    failures = 0

    async def flaky_xread(*args: Any, **kwargs: Any) -> Any:
        nonlocal failures
        if failing:
            failures += 1
            raise ValueError("a reply of an unexpected shape")
        return await read(*args, **kwargs)

    monkeypatch.setattr(client, "xread", flaky_xread)
    store = RedisAnswerStore(client, timeout_s=2.0)
    index = new_index()
    async with following(client, index, block_ms=50, retry_s=0.05, max_retry_s=0.2) as follower:
        async with asyncio.timeout(2):
            await follower.caught_up.wait()
        assert await store.write(entry("before"), VECTOR, ttl_s=60, embedder=EMBEDDER)
        await wait_for(lambda: found(index) == ["before"])
        failing = True
        assert await store.write(entry("during"), VECTOR, ttl_s=60, embedder=EMBEDDER)
        await asyncio.sleep(0.5)
        assert 2 <= failures <= 6  # 0.05, 0.1, 0.2, 0.2 s apart: backing off, not spinning
        failing = False
        assert await store.write(entry("after"), VECTOR, ttl_s=60, embedder=EMBEDDER)
        await wait_for(lambda: sorted(found(index)) == ["after", "before", "during"])
    (warning, *_) = feed_warnings(caplog)
    assert "ValueError: a reply of an unexpected shape" in warning


async def test_only_cancellation_stops_the_follower(
    client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_xread(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("broken")

    with monkeypatch.context() as patch:
        patch.setattr(client, "xread", broken_xread)
        task = asyncio.create_task(IndexFollower(client, new_index(), retry_s=30.0).run())
        await asyncio.sleep(0.05)  # it failed and backs off for 30 s
        assert not task.done()
        task.cancel()
        async with asyncio.timeout(1):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert task.cancelled()

    await client.xadd(CACHE_FEED, added_fields("boom"))  # a cancellation while applying an event
    task = asyncio.create_task(IndexFollower(client, ExplodingIndex(asyncio.CancelledError())).run())
    async with asyncio.timeout(1):
        with pytest.raises(asyncio.CancelledError):
            await task

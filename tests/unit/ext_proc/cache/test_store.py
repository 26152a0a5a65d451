"""`RedisAnswerStore` on a real (embedded) Valkey: round trips, TTL, generations and purges, the feed,
malformed entries, and failing open (quickly) when Redis is unreachable or hung."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import numpy as np
import orjson
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from control_plane.cache_admin import purge_cache_namespace
from control_plane.cache_feed import EntryAdded, NamespacePurged, decode_feed_event
from control_plane.keys import CACHE_FEED, cache_entry, cache_generation
from control_plane.launcher.readiness import free_port
from control_plane.redis_client import connect
from ext_proc.cache.contracts import CachedAnswer, CacheEntry
from ext_proc.cache.similarity import vector_from_bytes
from ext_proc.cache.store import RedisAnswerStore

NS = "t.acme"
ANSWER = CachedAnswer(content="Paris.", model="gpt-4o-mini", prompt_tokens=12, completion_tokens=2)


def entry(
    entry_id: str = "e1", *, generation: int = 0, prompt: str | None = "capital of France?"
) -> CacheEntry:
    return CacheEntry(
        entry_id=entry_id,
        namespace=NS,
        partition="part-1",
        prompt=prompt,
        answer=ANSWER,
        generation=generation,
        stored_at=1_700_000_000.5,
    )


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def store(client: aioredis.Redis) -> RedisAnswerStore:
    return RedisAnswerStore(client, timeout_s=2.0)


async def feed(client: aioredis.Redis) -> list[object]:
    return [decode_feed_event(fields) for _id, fields in await client.xrange(CACHE_FEED)]


async def test_write_then_read_round_trip(store: RedisAnswerStore, client: aioredis.Redis) -> None:
    answer = CachedAnswer("x", "m", 1, 2, system_fingerprint="fp_1", refusal=None)
    stored = CacheEntry("e2", NS, "part-1", None, answer, 0, 1.25)
    assert await store.write(entry(), None, ttl_s=60, embedder="mini")
    assert await store.write(stored, None, ttl_s=60, embedder="mini")
    assert await store.read(NS, ["e2", "missing", "e1"]) == [stored, entry()]
    assert await store.read(NS, []) == []
    assert await store.read("t.other", ["e1"]) == []
    fields = await client.hgetall(cache_entry(NS, "e1"))
    assert set(fields) == {b"answer", b"ns", b"part", b"prompt", b"gen", b"at"}
    assert b"prompt" not in await client.hgetall(cache_entry(NS, "e2"))
    assert await feed(client) == []  # no vector, no announcement


async def test_rewrite_without_prompt_clears_the_old_prompt(store: RedisAnswerStore) -> None:
    assert await store.write(entry(), None, ttl_s=60, embedder="mini")
    assert await store.write(entry(prompt=None), None, ttl_s=60, embedder="mini")
    assert [e.prompt for e in await store.read(NS, ["e1"])] == [None]


async def test_write_with_vector_announces_it(store: RedisAnswerStore, client: aioredis.Redis) -> None:
    vector = np.asarray([0.6, 0.8], dtype=np.float32)
    before = time.time()
    assert await store.write(entry(), vector, ttl_s=60, embedder="mini")
    [event] = await feed(client)
    assert isinstance(event, EntryAdded)
    assert (event.namespace, event.partition, event.entry_id, event.generation, event.embedder) == (
        NS,
        "part-1",
        "e1",
        0,
        "mini",
    )
    assert before + 60 <= event.expires_at <= time.time() + 60
    assert np.array_equal(vector_from_bytes(event.vector), vector)


async def test_entries_expire_with_their_ttl(store: RedisAnswerStore, client: aioredis.Redis) -> None:
    assert await store.write(entry(), None, ttl_s=30, embedder="mini")
    assert 0 < await client.ttl(cache_entry(NS, "e1")) <= 30
    await client.pexpire(cache_entry(NS, "e1"), 20)
    await asyncio.sleep(0.1)
    assert await store.read(NS, ["e1"]) == []
    assert not await store.write(entry(), None, ttl_s=0, embedder="mini")


async def test_purge_makes_entries_unreachable_and_drops_stale_writes(
    store: RedisAnswerStore, client: aioredis.Redis
) -> None:
    assert await store.generation(NS) == 0
    assert await store.write(entry(), None, ttl_s=60, embedder="mini")
    assert await purge_cache_namespace(client, NS) == 1
    assert await store.generation(NS) == 1
    assert await store.read(NS, ["e1"]) == []
    assert not await store.write(entry("e3", generation=0), np.ones(2, np.float32), ttl_s=60, embedder="mini")
    assert not await client.exists(cache_entry(NS, "e3"))
    assert await feed(client) == [NamespacePurged(NS, 1)]  # the dropped write announced nothing
    assert await store.write(entry("e3", generation=1), None, ttl_s=60, embedder="mini")
    assert [e.entry_id for e in await store.read(NS, ["e1", "e3"])] == ["e3"]
    assert not await store.write(
        entry("e4", generation=2), None, ttl_s=60, embedder="mini"
    )  # from the future
    assert await purge_cache_namespace(client, NS) == 2
    assert await store.generation("t.other") == 0


async def test_malformed_entries_are_skipped(store: RedisAnswerStore, client: aioredis.Redis) -> None:
    assert await store.write(entry("good"), None, ttl_s=60, embedder="mini")
    good = await client.hgetall(cache_entry(NS, "good"))
    broken = {
        "bad-json": {**good, b"answer": b"{not json"},
        "bad-type": {
            **good,
            b"answer": orjson.dumps({"content": 1, "model": "m", "prompt_tokens": 1, "completion_tokens": 1}),
        },
        "missing-field": {k: v for k, v in good.items() if k != b"part"},
        "bad-gen": {**good, b"gen": b"zero"},
        "other-ns": {**good, b"ns": b"t.other"},
    }
    for entry_id, fields in broken.items():
        await client.hset(cache_entry(NS, entry_id), mapping=fields)
    assert [e.entry_id for e in await store.read(NS, [*broken, "good"])] == ["good"]
    await client.set(cache_generation(NS), b"not-a-number")
    assert await store.read(NS, ["good"]) == []
    assert await store.generation(NS) is None


async def test_unreachable_redis_fails_open() -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0")
    store = RedisAnswerStore(client, timeout_s=0.5, retry_s=0.0)
    try:
        started = time.monotonic()
        assert await store.read(NS, ["e1"]) == []
        assert not await store.write(entry(), np.ones(2, np.float32), ttl_s=60, embedder="mini")
        assert await store.generation(NS) is None
        assert time.monotonic() - started < 1.5
        with pytest.raises(RedisConnectionError):
            await purge_cache_namespace(client, NS)  # a purge not done is never silent
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers (a hung Redis)."""
    writers: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_hung_redis_costs_at_most_the_timeout_then_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    async with silent_server() as port:
        client = connect(f"redis://127.0.0.1:{port}/0")
        store = RedisAnswerStore(client, timeout_s=0.1, retry_s=60.0)
        try:
            started = time.monotonic()
            assert await store.read(NS, ["e1"]) == []
            assert 0.09 <= time.monotonic() - started < 0.5
            started = time.monotonic()  # Redis is known down: the next calls do not wait at all
            assert await store.generation(NS) is None
            assert not await store.write(entry(), None, ttl_s=60, embedder="mini")
            assert await store.read(NS, ["e1"]) == []
            assert time.monotonic() - started < 0.05
        finally:
            await client.aclose()
    warnings = [r for r in caplog.records if r.name == "ext_proc.cache.store" and r.levelname == "WARNING"]
    assert len(warnings) == 1


async def test_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0")
    store = RedisAnswerStore(client, timeout_s=0.5, retry_s=0.0, quiet_s=60.0)
    try:
        for _ in range(5):
            assert await store.read(NS, ["e1"]) == []
    finally:
        await client.aclose()
    warnings = [r for r in caplog.records if r.name == "ext_proc.cache.store" and r.levelname == "WARNING"]
    assert len(warnings) == 1

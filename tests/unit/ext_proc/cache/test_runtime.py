"""`CacheRuntime` built from settings on a real (embedded) Valkey: off, on with the exact layer only, on
with the local model, on with a remote embedder; background tasks run while open and stop on exit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

import ext_proc.cache
import ext_proc.cache.runtime as runtime_module
from control_plane.keys import tenant_cache_stats
from control_plane.redis_client import connect
from ext_proc.cache.embedder import BudgetedEmbedder, RemoteEmbedder
from ext_proc.cache.onnx_embedder import MODEL_NAME
from ext_proc.cache.runtime import CacheRuntime, build_embedder, build_store_embedder
from ext_proc.cache.service import ResponseCache
from ext_proc.settings import ExtProcSettings
from tests.support.cache_fakes import SleepyModel


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


def cache_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() in ("cache-index-feed", "cache-stats")]


async def test_cache_disabled_gives_no_cache(client: aioredis.Redis, valkey_url: str) -> None:
    settings = ExtProcSettings(redis_url=valkey_url, cache_enabled=False)
    async with CacheRuntime(settings, client) as runtime:
        assert runtime.cache is None
        assert runtime.index is None
        assert runtime.follower is None
        assert cache_tasks() == []


async def test_cache_on_gives_a_response_cache_and_exits_cleanly(
    client: aioredis.Redis, valkey_url: str
) -> None:
    settings = ExtProcSettings(redis_url=valkey_url, cache_embedder="none", cache_stats_interval_s=0.05)
    runtime = CacheRuntime(settings, client)
    async with runtime:
        assert isinstance(runtime.cache, ResponseCache)
        assert runtime.index is not None
        assert runtime.index.embedder == MODEL_NAME
        assert runtime.index.dimensions == 384
        tasks = cache_tasks()
        assert sorted(t.get_name() for t in tasks) == ["cache-index-feed", "cache-stats"]
        assert not any(t.done() for t in tasks)
        runtime.cache.stats.count("acme", "misses")
    assert all(t.cancelled() for t in tasks)
    assert cache_tasks() == []
    assert runtime.cache.stats.pending("acme") == {}  # the final flush wrote it
    assert await client.hget(tenant_cache_stats("acme"), "misses") == b"1"
    assert await client.ping()  # the shared client is not closed


async def test_own_cache_redis_is_closed_on_exit(client: aioredis.Redis, valkey_url: str) -> None:
    own = valkey_url.rsplit("/", 1)[0] + "/1"
    settings = ExtProcSettings(redis_url=valkey_url, cache_redis_url=own, cache_embedder="none")
    async with CacheRuntime(settings, client) as runtime:
        assert runtime.cache is not None
        assert runtime._own_client is not None  # private: whether the runtime made its own client
    assert await client.ping()


async def test_local_embedder_is_loaded_and_closed(client: aioredis.Redis, valkey_url: str) -> None:
    settings = ExtProcSettings(redis_url=valkey_url, cache_embedder="onnx", cache_embed_budget_s=2.0)
    embedder = build_embedder(settings)
    assert isinstance(embedder, BudgetedEmbedder)
    vector = await embedder.embed("What is the capital of France?")
    assert vector is not None
    assert vector.shape == (384,)
    await embedder.aclose()


def test_remote_embedder_from_settings() -> None:
    settings = ExtProcSettings(
        cache_embedder="remote",
        cache_embedder_url="http://embedder.test/v1",
        cache_embedder_model="bge-large",
        cache_embedder_dimensions=1024,
    )
    embedder = build_embedder(settings)
    assert isinstance(embedder, RemoteEmbedder)
    assert embedder.name == "remote:bge-large"
    asyncio.run(embedder.aclose())


def test_no_embedder_from_settings() -> None:
    assert build_embedder(ExtProcSettings(cache_embedder="none")) is None


async def test_remote_runtime_uses_the_remote_dimensions(client: aioredis.Redis, valkey_url: str) -> None:
    settings = ExtProcSettings(
        redis_url=valkey_url,
        cache_embedder="remote",
        cache_embedder_url="http://127.0.0.1:9/v1",
        cache_embedder_model="bge-large",
        cache_embedder_dimensions=1024,
    )
    async with CacheRuntime(settings, client) as runtime:
        assert runtime.index is not None
        assert runtime.index.dimensions == 1024
        assert runtime.index.embedder == "remote:bge-large"


def test_store_settings_defaults() -> None:
    settings = ExtProcSettings()
    assert (settings.cache_store_embed_budget_s, settings.cache_store_embed_max_in_flight) == (1.0, 2)


async def test_store_embedder_is_a_sibling_with_the_store_settings() -> None:
    settings = ExtProcSettings(cache_store_embed_budget_s=0.5, cache_store_embed_max_in_flight=1)
    model = SleepyModel(0.3)
    lookups = BudgetedEmbedder(model, budget_s=0.1, max_in_flight=4)
    stores = build_store_embedder(settings, lookups)
    assert isinstance(stores, BudgetedEmbedder)
    assert stores is not lookups
    first = asyncio.create_task(stores.embed("a"))
    await asyncio.sleep(0.02)
    assert await stores.embed("b") is None  # max_in_flight 1
    assert await first is not None  # 0.3 s: within 0.5 s, over the lookups' 0.1 s
    assert model.texts == ["a"]
    assert build_store_embedder(settings, None) is None
    await stores.aclose()
    await lookups.aclose()


async def test_remote_store_embedder_has_the_store_budget() -> None:
    settings = ExtProcSettings(
        cache_embedder="remote",
        cache_embedder_url="http://embedder.test/v1",
        cache_embedder_model="bge-large",
        cache_store_embed_budget_s=0.75,
    )
    lookups = build_embedder(settings)
    stores = build_store_embedder(settings, lookups)
    assert isinstance(stores, RemoteEmbedder)
    assert stores is not lookups
    assert stores.name == "remote:bge-large"
    assert stores._budget_s == 0.75  # private: the budget is not otherwise observable without a server
    assert lookups is not None
    await lookups.aclose()
    await stores.aclose()


async def test_runtime_wires_the_store_embedder(client: aioredis.Redis, valkey_url: str) -> None:
    settings = ExtProcSettings(
        redis_url=valkey_url,
        cache_embedder="remote",
        cache_embedder_url="http://127.0.0.1:9/v1",
        cache_store_embed_max_in_flight=3,
    )
    async with CacheRuntime(settings, client) as runtime:
        assert runtime.cache is not None
        # private: which embedders the cache was given
        assert isinstance(runtime.cache._store_embedder, RemoteEmbedder)
        assert runtime.cache._store_embedder is not runtime.cache._embedder
        assert runtime.cache._store_embed_cap == 3


async def test_a_failed_start_closes_both_embedders(
    client: aioredis.Redis, valkey_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ExtProcSettings(
        redis_url=valkey_url, cache_embedder="remote", cache_embedder_url="http://127.0.0.1:9/v1"
    )
    closed: list[str] = []
    original = RemoteEmbedder.aclose

    async def recording_aclose(self: RemoteEmbedder) -> None:
        closed.append(type(self).__name__)
        await original(self)

    def broken_index(**_kwargs: object) -> None:
        raise RuntimeError("the index cannot be built")

    monkeypatch.setattr(RemoteEmbedder, "aclose", recording_aclose)
    monkeypatch.setattr(runtime_module, "PartitionedVectorIndex", broken_index)
    with pytest.raises(RuntimeError, match="cannot be built"):
        async with CacheRuntime(settings, client):
            pass
    assert closed == ["RemoteEmbedder", "RemoteEmbedder"]  # the store's, then the lookups'
    assert cache_tasks() == []


def test_cache_package_exports_nothing() -> None:
    assert ext_proc.cache.__all__ == []
    assert ext_proc.cache.__doc__

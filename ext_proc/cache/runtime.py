"""`CacheRuntime`: the response cache of one ext_proc process, built from settings, with its tasks.

    async with CacheRuntime(settings, governance_client) as runtime:
        runtime.cache    # ResponseCache, or None when `cache_enabled` is off

Background tasks while open: the index feed follower (keeps this replica's vectors current) and the
stats flusher. The embedding model is loaded once, here, before the process serves; storing answers
embeds with a second embedder over it (`build_store_embedder`: its own budget, threads and cap).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

from control_plane.redis_client import RedisClient, connect
from ext_proc.cache.contracts import Embedder
from ext_proc.cache.embedder import BudgetedEmbedder, RemoteEmbedder
from ext_proc.cache.index_feed import IndexFollower
from ext_proc.cache.onnx_embedder import MODEL_NAME, OnnxEmbedder
from ext_proc.cache.service import ResponseCache
from ext_proc.cache.stats import CacheStatsRecorder
from ext_proc.cache.store import RedisAnswerStore
from ext_proc.cache.vector_index import PartitionedVectorIndex
from ext_proc.settings import ExtProcSettings

__all__ = ["CacheRuntime", "build_embedder", "build_store_embedder"]

_log = logging.getLogger(__name__)

_ONNX_DIMENSIONS = OnnxEmbedder.dimensions


def build_embedder(settings: ExtProcSettings) -> Embedder | None:
    """The embedder the settings ask for (None: exact layer only)."""
    if settings.cache_embedder == "none":
        return None
    if settings.cache_embedder == "remote":
        return _remote_embedder(settings, budget_s=settings.cache_embed_budget_s)
    return BudgetedEmbedder(
        OnnxEmbedder(),
        budget_s=settings.cache_embed_budget_s,
        workers=settings.cache_embed_threads,
        max_in_flight=settings.cache_embed_threads * 4,
    )


def build_store_embedder(settings: ExtProcSettings, embedder: Embedder | None) -> Embedder | None:
    """The embedder for stored answers' prompts, beside the lookups' `embedder` (from `build_embedder`):
    the same model with `cache_store_embed_budget_s` and its own worker thread and calls in flight
    (`cache_store_embed_max_in_flight`), so background stores never starve lookups."""
    if embedder is None:
        return None
    if isinstance(embedder, BudgetedEmbedder):
        return embedder.sibling(
            budget_s=settings.cache_store_embed_budget_s,
            max_in_flight=settings.cache_store_embed_max_in_flight,
        )
    if settings.cache_embedder == "remote":
        return _remote_embedder(settings, budget_s=settings.cache_store_embed_budget_s)
    return embedder


def _remote_embedder(settings: ExtProcSettings, *, budget_s: float) -> RemoteEmbedder:
    assert settings.cache_embedder_url is not None  # checked by the settings
    key = settings.cache_embedder_api_key
    return RemoteEmbedder(
        settings.cache_embedder_url,
        model=settings.cache_embedder_model,
        budget_s=budget_s,
        api_key=key.get_secret_value() if key is not None else None,
    )


class CacheRuntime:
    """Owns the cache's Redis client (when it is not the governance one), embedder and tasks."""

    def __init__(self, settings: ExtProcSettings, client: RedisClient) -> None:
        self._settings = settings
        self._shared_client = client
        self._own_client: RedisClient | None = None
        self._embedder: Embedder | None = None
        self._store_embedder: Embedder | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.cache: ResponseCache | None = None
        self.index: PartitionedVectorIndex | None = None
        self.follower: IndexFollower | None = None

    async def __aenter__(self) -> CacheRuntime:
        settings = self._settings
        if not settings.cache_enabled:
            return self
        self._embedder = build_embedder(settings)  # first: a model that fails to load leaves nothing open
        try:
            self._start(settings)
        except BaseException:
            await self.__aexit__(None, None, None)  # close the embedders (threads, HTTP clients) built
            raise
        return self

    def _start(self, settings: ExtProcSettings) -> None:
        self._store_embedder = build_store_embedder(settings, self._embedder)
        client = self._shared_client
        if settings.cache_redis_url is not None and settings.cache_redis_url != settings.redis_url:
            client = self._own_client = connect(settings.cache_redis_url)
        embedder_name = self._embedder.name if self._embedder is not None else MODEL_NAME
        self.index = PartitionedVectorIndex(
            dimensions=(
                settings.cache_embedder_dimensions
                if settings.cache_embedder == "remote"
                else _ONNX_DIMENSIONS
            ),
            max_vectors=settings.cache_index_max_vectors,
            embedder=embedder_name,
        )
        stats = CacheStatsRecorder(self._shared_client, interval_s=settings.cache_stats_interval_s)
        store = RedisAnswerStore(client, timeout_s=settings.cache_redis_timeout_s)
        self.cache = ResponseCache(
            store,
            self.index,
            self._embedder,
            stats,
            store_embedder=self._store_embedder,
            store_embed_max_in_flight=settings.cache_store_embed_max_in_flight,
        )
        self.follower = IndexFollower(client, self.index)
        self._tasks = [
            asyncio.create_task(self.follower.run(), name="cache-index-feed"),
            asyncio.create_task(stats.run_flusher(), name="cache-stats"),
        ]
        _log.info(
            "response cache on (embedder %s, budget %.0f ms)",
            self._embedder.name if self._embedder is not None else "none",
            settings.cache_embed_budget_s * 1000,
        )

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self.cache is not None:
            await self.cache.drain()
            await self.cache.stats.flush()
        if self._store_embedder is not None and self._store_embedder is not self._embedder:
            await self._store_embedder.aclose()
        if self._embedder is not None:
            await self._embedder.aclose()
        if self._own_client is not None:
            await self._own_client.aclose()

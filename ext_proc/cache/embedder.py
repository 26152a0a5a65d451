"""Embedders the cache calls on the request path, each with a hard time budget.

`BudgetedEmbedder` runs a blocking embedder (`OnnxEmbedder`) in its own worker threads, never on the
event loop. A call that does not finish within the budget is a cache miss (the thread finishes in the
background; its result is dropped), and while `max_in_flight` calls are already running a new call is
refused at once, so a slow or saturated embedder degrades to misses instead of queueing requests.
Storing an answer embeds its prompt with a `sibling`: the same model, its own threads, budget and cap.

`RemoteEmbedder` replaces the local model with any OpenAI-compatible `/v1/embeddings` endpoint (a
bigger model, or a GPU box), with the same budget semantics.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from typing import Protocol

import httpx
import numpy as np

from ext_proc.cache.contracts import Vector

__all__ = ["MAX_EMBED_CHARS", "BlockingEmbedder", "BudgetedEmbedder", "EmbedderCounters", "RemoteEmbedder"]

_log = logging.getLogger(__name__)

MAX_EMBED_CHARS = 4096
"""Text beyond this is never tokenized (the model reads 256 tokens at most anyway)."""


class BlockingEmbedder(Protocol):
    @property
    def name(self) -> str: ...

    def embed_sync(self, text: str) -> Vector: ...


class EmbedderCounters:
    """What happened to embedding calls (exposed in logs and the bench)."""

    __slots__ = ("calls", "errors", "over_budget", "refused_busy", "seconds")

    def __init__(self) -> None:
        self.calls = 0
        self.over_budget = 0
        self.refused_busy = 0
        self.errors = 0
        self.seconds = 0.0


def _unit(values: object) -> Vector | None:
    vector = np.asarray(values, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    if vector.size == 0 or not np.isfinite(norm) or norm == 0.0:
        return None
    unit: Vector = (vector / norm).astype(np.float32)
    return unit


class BudgetedEmbedder:
    """A blocking embedder run in worker threads with a time budget per call."""

    def __init__(
        self, model: BlockingEmbedder, *, budget_s: float, workers: int = 1, max_in_flight: int = 4
    ) -> None:
        self._model = model
        self._budget_s = budget_s
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed")
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self.counters = EmbedderCounters()

    @property
    def name(self) -> str:
        return self._model.name

    def sibling(self, *, budget_s: float, max_in_flight: int, workers: int = 1) -> BudgetedEmbedder:
        """Another `BudgetedEmbedder` over the same model with its own worker threads, budget, cap on
        calls in flight and counters: the store path's, so its calls never take this one's slots or
        threads (closing either leaves the other open)."""
        return BudgetedEmbedder(self._model, budget_s=budget_s, workers=workers, max_in_flight=max_in_flight)

    def _run(self, text: str) -> tuple[Vector, float]:
        started = time.perf_counter()
        vector = self._model.embed_sync(text)
        return vector, time.perf_counter() - started

    def _done(self, _future: object) -> None:
        self._in_flight -= 1

    async def embed(self, text: str) -> Vector | None:
        if self._in_flight >= self._max_in_flight:
            self.counters.refused_busy += 1
            return None
        self.counters.calls += 1
        self._in_flight += 1
        future = asyncio.get_running_loop().run_in_executor(self._pool, self._run, text[:MAX_EMBED_CHARS])
        future.add_done_callback(self._done)
        done, _ = await asyncio.wait({future}, timeout=self._budget_s)
        if not done:
            self.counters.over_budget += 1
            future.add_done_callback(_drop_result)
            return None
        try:
            vector, seconds = future.result()
        except Exception:  # noqa: BLE001 -- any model failure is a miss, never a failed request
            self.counters.errors += 1
            _log.exception("embedding failed; cache lookup treated as a miss")
            return None
        self.counters.seconds += seconds
        return vector

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _drop_result(future: asyncio.Future[tuple[Vector, float]]) -> None:
    if not future.cancelled():
        future.exception()  # read it so asyncio does not log "exception was never retrieved"


class RemoteEmbedder:
    """An OpenAI-compatible embeddings endpoint (`POST <base_url>/embeddings`)."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        budget_s: float,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=budget_s, transport=transport
        )
        self._model = model
        self._budget_s = budget_s
        self.counters = EmbedderCounters()

    @property
    def name(self) -> str:
        return f"remote:{self._model}"

    async def embed(self, text: str) -> Vector | None:
        self.counters.calls += 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._budget_s):
                response = await self._client.post(
                    "/embeddings", json={"model": self._model, "input": text[:MAX_EMBED_CHARS]}
                )
            response.raise_for_status()
            vector = _unit(response.json()["data"][0]["embedding"])
        except TimeoutError:
            self.counters.over_budget += 1
            return None
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as error:
            self.counters.errors += 1
            _log.warning("remote embedding failed (%s); cache lookup treated as a miss", type(error).__name__)
            return None
        self.counters.seconds += time.perf_counter() - started
        return vector

    async def aclose(self) -> None:
        await self._client.aclose()

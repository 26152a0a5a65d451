"""In-memory fakes of the response cache's ports (ext_proc.cache.contracts), for unit tests.

    index = PartitionedVectorIndex(dimensions=DIMENSIONS, embedder=FAKE_EMBEDDER)
    store = MemoryAnswerStore(index=index)     # an `AnswerStore`; written vectors go into `index`
    embedder = FakeEmbedder({"prompt": unit(1, 0)})  # an `Embedder`: fixed vectors, None for others
    embedder.gate = asyncio.Event()            # optional: embed calls wait until it is set
    model = SleepyModel(0.2)                   # a `BlockingEmbedder` that sleeps (for BudgetedEmbedder)

Each fake records its calls, so a test can assert exact calls and counts.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping

import numpy as np

from control_plane.cache_feed import EntryAdded
from ext_proc.cache.contracts import CacheEntry, Vector
from ext_proc.cache.similarity import vector_to_bytes
from ext_proc.cache.vector_index import PartitionedVectorIndex

__all__ = ["DIMENSIONS", "FAKE_EMBEDDER", "FakeEmbedder", "MemoryAnswerStore", "SleepyModel", "unit"]

DIMENSIONS = 8
FAKE_EMBEDDER = "fake-embedder"


def unit(*values: float, dimensions: int = DIMENSIONS) -> Vector:
    """The unit vector along `values` (padded with zeros to `dimensions`)."""
    vector = np.zeros(dimensions, dtype=np.float32)
    vector[: len(values)] = values
    result: Vector = (vector / np.linalg.norm(vector)).astype(np.float32)
    return result


class FakeEmbedder:
    """An `Embedder` with fixed vectors: text → its vector, None (over budget) for unknown text. With
    `gate` set to an event, each call (recorded first) waits for it: an embedding in flight."""

    def __init__(self, vectors: Mapping[str, Vector], *, name: str = FAKE_EMBEDDER) -> None:
        self.vectors = dict(vectors)
        self._name = name
        self.calls: list[str] = []
        self.closed = False
        self.gate: asyncio.Event | None = None

    @property
    def name(self) -> str:
        return self._name

    async def embed(self, text: str) -> Vector | None:
        self.calls.append(text)
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        return self.vectors.get(text)

    async def aclose(self) -> None:
        self.closed = True


class MemoryAnswerStore:
    """An `AnswerStore` in memory with the Redis store's contract: entries per (namespace, id), a
    generation per namespace (writes of another generation are dropped, reads serve only the current
    one). With `index`, a written entry with a vector is added to it (what the index feed would do).

    `failing`: every call fails open (read [], write False, generation None). `write_result`: force
    what `write` returns (False: as if Redis refused it). `write_gate`: writes wait for it to be set.
    """

    def __init__(self, *, index: PartitionedVectorIndex | None = None) -> None:
        self.index = index
        self.entries: dict[tuple[str, str], CacheEntry] = {}
        self.generations: dict[str, int] = {}
        self.failing = False
        self.write_result: bool | None = None
        self.write_gate: asyncio.Event | None = None
        self.reads: list[tuple[str, list[str]]] = []
        self.writes: list[tuple[CacheEntry, Vector | None, int, str]] = []

    def put(self, entry: CacheEntry) -> None:
        """Plant an entry as it is (no generation check): to simulate what Redis may hold."""
        self.entries[(entry.namespace, entry.entry_id)] = entry

    async def read(self, namespace: str, entry_ids: list[str]) -> list[CacheEntry]:
        self.reads.append((namespace, list(entry_ids)))
        await asyncio.sleep(0)
        if self.failing:
            return []
        current = self.generations.get(namespace, 0)
        found = (self.entries.get((namespace, entry_id)) for entry_id in entry_ids)
        return [entry for entry in found if entry is not None and entry.generation == current]

    async def write(self, entry: CacheEntry, vector: Vector | None, *, ttl_s: int, embedder: str) -> bool:
        self.writes.append((entry, vector, ttl_s, embedder))
        if self.write_gate is not None:
            await self.write_gate.wait()
        await asyncio.sleep(0)
        if self.failing or entry.generation != self.generations.get(entry.namespace, 0):
            return False
        if self.write_result is not None:
            return self.write_result
        self.entries[(entry.namespace, entry.entry_id)] = entry
        if vector is not None and self.index is not None:
            self.index.add(
                EntryAdded(
                    namespace=entry.namespace,
                    partition=entry.partition,
                    entry_id=entry.entry_id,
                    generation=entry.generation,
                    expires_at=entry.stored_at + ttl_s,
                    embedder=embedder,
                    vector=vector_to_bytes(vector),
                )
            )
        return True

    async def generation(self, namespace: str) -> int | None:
        await asyncio.sleep(0)
        return None if self.failing else self.generations.get(namespace, 0)


class SleepyModel:
    """A `BlockingEmbedder` that blocks its thread for `delay_s` (time.sleep), then returns `vector`
    or raises `error`. `calls` counts the calls, `texts` keeps their texts."""

    def __init__(
        self, delay_s: float, *, vector: Vector | None = None, error: Exception | None = None
    ) -> None:
        self.delay_s = delay_s
        self.vector = vector if vector is not None else unit(1.0)
        self.error = error
        self.calls = 0
        self.texts: list[str] = []
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "sleepy"

    def embed_sync(self, text: str) -> Vector:
        with self._lock:
            self.calls += 1
            self.texts.append(text)
        time.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return self.vector

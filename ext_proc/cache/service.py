"""`ResponseCache`: the lookup and store steps the inference processor calls, over the cache's parts.

Lookup, after the request was authenticated and admitted (a hit never escapes a quota):
1. exact layer: read the entry whose id is the hash of the whole canonical request;
2. semantic layer (only when the last message is plain user text the guard understands and short
   enough to be read whole by the embedding model, and this replica holds vectors of the request's
   partition): embed it off the event loop within a time budget, find the nearest vectors of the same
   partition in this replica's index (in a worker thread when the partition is big), re-read those
   entries from Redis (truth: TTL and purge generation), and serve the first one the near-miss guard
   accepts.
Every step fails open: Redis errors, an embedder over budget, an index behind Redis — all are misses.

Store, after a complete answer: in a background task (the client never waits for it), embed the prompt
unless the lookup already did, and write the entry under the generation seen at lookup time, so an
answer computed before a purge is never stored after it. Stores embed with their own embedder (its own
budget and threads, so they never starve lookups) and at most `store_embed_max_in_flight` at once: past
that, the entry is written for the exact layer only (counted in `semantic_stores_skipped`). The prompt
text is stored only when the semantic layer applies to the request (the guard is its only reader).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from control_plane.model import CacheLayer, CacheSettings
from ext_proc.cache.contracts import (
    AnswerStore,
    CachedAnswer,
    CacheEntry,
    CacheHit,
    CacheRequest,
    Embedder,
    Vector,
)
from ext_proc.cache.guard import IDENTICAL_FLOOR, guard_supports, semantic_match
from ext_proc.cache.stats import CacheStatsRecorder
from ext_proc.cache.vector_index import PartitionedVectorIndex

__all__ = ["OFFLOAD_SCAN_VECTORS", "SEMANTIC_MAX_PROMPT_CHARS", "Lookup", "ResponseCache"]

_log = logging.getLogger(__name__)

SEMANTIC_MAX_PROMPT_CHARS = 1000
"""Longer prompts use the exact layer only: the model reads 256 tokens, so two long prompts that differ
only after that would look identical to it."""

_CANDIDATES = 5

OFFLOAD_SCAN_VECTORS = 5_000
"""A partition holding more vectors than this is scanned in a worker thread, not on the event loop."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a lookup found, and what storing the answer of a miss needs."""

    hit: CacheHit | None
    generation: int | None
    """The namespace generation seen (None: unknown, Redis failed — then nothing is stored)."""
    vector: Vector | None
    """The prompt's embedding, when the semantic layer computed it (reused to store the answer)."""


class ResponseCache:
    """The exact and semantic layers over one answer store, vector index and embedder (module doc).

    `store_embedder` embeds the prompts of answers being stored (default: `embedder`; give it its own
    instance, e.g. `BudgetedEmbedder.sibling`, so stores never take the lookups' budget or slots)."""

    def __init__(
        self,
        store: AnswerStore,
        index: PartitionedVectorIndex,
        embedder: Embedder | None,
        stats: CacheStatsRecorder,
        *,
        clock: Callable[[], float] = time.time,
        max_pending_writes: int = 256,
        store_embedder: Embedder | None = None,
        store_embed_max_in_flight: int = 2,
        offload_scan_vectors: int = OFFLOAD_SCAN_VECTORS,
    ) -> None:
        self._store = store
        self._index = index
        self._embedder = embedder
        self._store_embedder = store_embedder if store_embedder is not None else embedder
        self._store_embed_cap = store_embed_max_in_flight
        self._store_embeds = 0
        self._offload_scan_vectors = offload_scan_vectors
        self.stats = stats
        self._clock = clock
        self._max_pending = max_pending_writes
        self._writes: set[asyncio.Task[None]] = set()
        self.semantic_stores_skipped = 0
        """Answers stored for the exact layer only because `store_embed_max_in_flight` embeds ran."""

    def semantic_applicable(self, request: CacheRequest, settings: CacheSettings) -> bool:
        prompt = request.prompt
        return (
            settings.semantic
            and self._embedder is not None
            and prompt is not None
            and 0 < len(prompt) <= SEMANTIC_MAX_PROMPT_CHARS
            and guard_supports(prompt)
        )

    async def lookup(
        self, request: CacheRequest, settings: CacheSettings, *, max_age_s: int | None
    ) -> Lookup:
        now = self._clock()
        if settings.exact:
            entries, generation = await asyncio.gather(
                self._store.read(request.namespace, [request.entry_id]),
                self._store.generation(request.namespace),
            )
            for entry in entries:
                if _same_scope(entry, request) and _fresh(entry, now, _max_age(settings, max_age_s)):
                    return Lookup(
                        CacheHit(entry.answer, CacheLayer.EXACT, None, now - entry.stored_at),
                        generation,
                        None,
                    )
        else:
            generation = await self._store.generation(request.namespace)
        if (
            not self.semantic_applicable(request, settings)
            or generation is None
            or not self._index.holds(request.partition)  # nothing to compare with: embed when storing
        ):
            return Lookup(None, generation, None)
        assert self._embedder is not None
        assert request.prompt is not None
        vector = await self._embedder.embed(request.prompt)
        if vector is None:
            return Lookup(None, generation, None)
        # The guard accepts a prompt that is the same after normalization (case, punctuation, filler,
        # typos) from a lower similarity than the threshold; it applies the threshold to the rest.
        floor = min(IDENTICAL_FLOOR, settings.similarity_threshold)
        candidates = await self._search(request.partition, vector, floor, now)
        if not candidates:
            return Lookup(None, generation, vector)
        similarity = dict(candidates)
        for entry in await self._store.read(request.namespace, [entry_id for entry_id, _ in candidates]):
            if (
                entry.prompt is None
                or not _same_scope(entry, request)
                or not _fresh(entry, now, _max_age(settings, max_age_s))
            ):
                continue
            score = similarity[entry.entry_id]
            decision = semantic_match(entry.prompt, request.prompt, score, settings.similarity_threshold)
            if decision.accepted:
                hit = CacheHit(entry.answer, CacheLayer.SEMANTIC, score, now - entry.stored_at)
                return Lookup(hit, generation, vector)
            _log.debug("semantic candidate %s refused: %s", entry.entry_id, decision.reason)
        return Lookup(None, generation, vector)

    async def _search(
        self, partition: str, vector: Vector, floor: float, now: float
    ) -> list[tuple[str, float]]:
        """The partition's nearest vectors: scanned on the event loop, or in a worker thread when the
        partition holds more than `offload_scan_vectors` rows (the index's `search` is read-only and
        may run on another thread while the loop adds to it)."""
        if self._index.partition_size(partition) <= self._offload_scan_vectors:
            return self._index.search(partition, vector, threshold=floor, limit=_CANDIDATES, now=now)
        return await asyncio.to_thread(
            self._index.search, partition, vector, threshold=floor, limit=_CANDIDATES, now=now
        )

    async def generation(self, namespace: str) -> int | None:
        """The namespace's current generation (None: Redis failed)."""
        return await self._store.generation(namespace)

    def store_later(
        self,
        tenant: str,
        request: CacheRequest,
        settings: CacheSettings,
        answer: CachedAnswer,
        *,
        generation: int,
        vector: Vector | None,
    ) -> bool:
        """Store `answer` in the background; False when too many writes are pending (dropped)."""
        if len(self._writes) >= self._max_pending:
            return False
        task = asyncio.create_task(self._store_entry(tenant, request, settings, answer, generation, vector))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return True

    async def _store_entry(
        self,
        tenant: str,
        request: CacheRequest,
        settings: CacheSettings,
        answer: CachedAnswer,
        generation: int,
        vector: Vector | None,
    ) -> None:
        try:
            semantic = self.semantic_applicable(request, settings)
            if not semantic:
                vector = None
            elif vector is None:
                assert request.prompt is not None
                vector = await self._embed_for_store(request.prompt)
            entry = CacheEntry(
                entry_id=request.entry_id,
                namespace=request.namespace,
                partition=request.partition,
                prompt=request.prompt if semantic else None,  # only the semantic guard reads it
                answer=answer,
                generation=generation,
                stored_at=self._clock(),
            )
            embedder = self._embedder.name if self._embedder is not None else ""
            if await self._store.write(entry, vector, ttl_s=settings.ttl_s, embedder=embedder):
                self.stats.count(tenant, "stored")
        except Exception:  # noqa: BLE001 -- a background write must never fail a request
            _log.exception("storing a cache entry failed")

    async def _embed_for_store(self, prompt: str) -> Vector | None:
        """The prompt's vector from the store embedder; None (the entry serves the exact layer only)
        over its budget, or at once while `store_embed_max_in_flight` store embeds are running."""
        embedder = self._store_embedder
        if embedder is None:
            return None
        if self._store_embeds >= self._store_embed_cap:
            self.semantic_stores_skipped += 1
            _log.debug("store embeds busy; entry stored for the exact layer only")
            return None
        self._store_embeds += 1
        try:
            return await embedder.embed(prompt)
        finally:
            self._store_embeds -= 1

    async def drain(self) -> None:
        """Wait for the pending background writes (shutdown and tests)."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)


def _same_scope(entry: CacheEntry, request: CacheRequest) -> bool:
    return entry.namespace == request.namespace and entry.partition == request.partition


def _fresh(entry: CacheEntry, now: float, max_age_s: int | None) -> bool:
    return max_age_s is None or now - entry.stored_at <= max_age_s


def _max_age(settings: CacheSettings, max_age_s: int | None) -> int:
    """The oldest entry that may be served: the policy's TTL (lowering it applies to stored entries
    too), or the client's `max-age` when that is shorter."""
    return settings.ttl_s if max_age_s is None else min(settings.ttl_s, max_age_s)

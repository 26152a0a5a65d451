"""`ResponseCache` over in-memory fakes (store, embedder) and a real `PartitionedVectorIndex`: the exact
and semantic layers, scope and age checks, failing open, and the background store."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import numpy as np
import pytest

from control_plane.model import CacheLayer, CacheSettings, HitBilling
from ext_proc.cache.contracts import CachedAnswer, CacheEntry, CacheRequest
from ext_proc.cache.request_key import cache_request
from ext_proc.cache.service import SEMANTIC_MAX_PROMPT_CHARS, Lookup, ResponseCache
from ext_proc.cache.stats import CacheStatsRecorder
from ext_proc.cache.vector_index import PartitionedVectorIndex
from tests.support.cache_fakes import DIMENSIONS, FAKE_EMBEDDER, FakeEmbedder, MemoryAnswerStore, unit

NOW = 1_700_000_000.0
NS = "t.acme"
MODEL = "gpt-4o-mini"
TENANT = "acme"
ANSWER = CachedAnswer(
    content="Use reversed() or slicing.", model=MODEL, prompt_tokens=14, completion_tokens=6
)

STORED = "How do I reverse a list in Python?"
RETYPED = "how can i reverse a list in python"  # the guard: identical once normalized
PERCENT_80 = "What is 15% of 80?"
PERCENT_90 = "What is 15% of 90?"  # the guard: numbers differ
UNRELATED = "Tell me a joke about cats"

SETTINGS = CacheSettings(
    enabled=True,
    layers=frozenset({CacheLayer.EXACT, CacheLayer.SEMANTIC}),
    similarity_threshold=0.9,
    ttl_s=600,
    hit_billing=HitBilling.FREE,
    namespace=None,
)
EXACT_ONLY = replace(SETTINGS, layers=frozenset({CacheLayer.EXACT}))
SEMANTIC_ONLY = replace(SETTINGS, layers=frozenset({CacheLayer.SEMANTIC}))

VECTORS = {
    STORED: unit(1.0, 0.0),
    RETYPED: unit(1.0, 0.1),  # cosine ≈ 0.995 with STORED
    PERCENT_80: unit(0.0, 1.0),
    PERCENT_90: unit(0.0, 1.0, 0.05),  # cosine ≈ 0.999 with PERCENT_80
    UNRELATED: unit(0.0, 0.0, 1.0),
}


def request(prompt: str, *, namespace: str = NS, system: str | None = None) -> CacheRequest:
    messages = [{"role": "system", "content": system}] if system is not None else []
    document = {"model": MODEL, "messages": [*messages, {"role": "user", "content": prompt}]}
    keyed = cache_request(document, namespace=namespace, model=MODEL)
    assert isinstance(keyed, CacheRequest)
    return keyed


def entry_for(
    req: CacheRequest, *, stored_at: float = NOW - 10, generation: int = 0, **fields: object
) -> CacheEntry:
    values: dict[str, object] = {
        "entry_id": req.entry_id,
        "namespace": req.namespace,
        "partition": req.partition,
        "prompt": req.prompt,
        "answer": ANSWER,
        "generation": generation,
        "stored_at": stored_at,
    } | fields
    return CacheEntry(**values)  # type: ignore[arg-type]


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def index() -> PartitionedVectorIndex:
    return PartitionedVectorIndex(dimensions=DIMENSIONS, embedder=FAKE_EMBEDDER)


@pytest.fixture
def store(index: PartitionedVectorIndex) -> MemoryAnswerStore:
    return MemoryAnswerStore(index=index)


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder(VECTORS)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(
    store: MemoryAnswerStore, index: PartitionedVectorIndex, embedder: FakeEmbedder, clock: Clock
) -> ResponseCache:
    return ResponseCache(store, index, embedder, CacheStatsRecorder(None), clock=clock)


async def remember(cache: ResponseCache, prompt: str, *, generation: int = 0) -> CacheRequest:
    """Store ANSWER for `prompt` the way a miss does (embedding it), and wait for the write."""
    req = request(prompt)
    assert cache.store_later(TENANT, req, SETTINGS, ANSWER, generation=generation, vector=None)
    await cache.drain()
    return req


# -- exact layer ---------------------------------------------------------------------------------------


async def test_exact_hit(cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder) -> None:
    req = request(STORED)
    store.put(entry_for(req, stored_at=NOW - 42.5))
    found = await cache.lookup(req, SETTINGS, max_age_s=None)
    assert found.hit is not None
    assert found.hit.answer == ANSWER
    assert found.hit.layer is CacheLayer.EXACT
    assert found.hit.similarity is None
    assert found.hit.age_s == pytest.approx(42.5)
    assert found.generation == 0
    assert found.vector is None
    assert embedder.calls == []  # an exact hit never embeds
    assert store.reads == [(NS, [req.entry_id])]


@pytest.mark.parametrize("field", ["namespace", "partition"])
async def test_exact_entry_of_another_scope_is_refused(
    cache: ResponseCache, store: MemoryAnswerStore, field: str
) -> None:
    """An entry read back under the request's id but naming another namespace or partition (a collision,
    a corrupt or foreign entry) is never served, on either layer."""
    req = request(STORED)
    planted = entry_for(req)
    if field == "namespace":
        planted = replace(planted, namespace="t.other")
    else:
        planted = replace(planted, partition="f" * 64)
    store.put(planted)
    found = await cache.lookup(req, EXACT_ONLY, max_age_s=None)
    assert found.hit is None
    assert found.generation == 0


async def test_exact_entry_of_another_partition_is_not_read(
    cache: ResponseCache, store: MemoryAnswerStore
) -> None:
    """The same last message under another system prompt, or in another namespace, is another entry."""
    store.put(entry_for(request(STORED)))
    for other in (request(STORED, system="You are a pirate."), request(STORED, namespace="t.other")):
        found = await cache.lookup(other, SETTINGS, max_age_s=None)
        assert found.hit is None


async def test_exact_entry_of_an_old_generation_is_not_served(
    cache: ResponseCache, store: MemoryAnswerStore
) -> None:
    req = request(STORED)
    store.put(entry_for(req))
    store.generations[NS] = 1  # purged
    found = await cache.lookup(req, SETTINGS, max_age_s=None)
    assert found.hit is None
    assert found.generation == 1


@pytest.mark.parametrize(
    ("max_age_s", "served"), [(None, True), (200, True), (100, True), (99, False), (0, False)]
)
async def test_max_age(
    cache: ResponseCache, store: MemoryAnswerStore, max_age_s: int | None, served: bool
) -> None:
    req = request(STORED)
    store.put(entry_for(req, stored_at=NOW - 100))
    found = await cache.lookup(req, EXACT_ONLY, max_age_s=max_age_s)
    assert (found.hit is not None) is served


async def test_max_age_applies_to_semantic_candidates(cache: ResponseCache, clock: Clock) -> None:
    await remember(cache, STORED)
    clock.now += 100
    assert (await cache.lookup(request(RETYPED), SETTINGS, max_age_s=99)).hit is None
    found = await cache.lookup(request(RETYPED), SETTINGS, max_age_s=100)
    assert found.hit is not None
    assert found.hit.age_s == pytest.approx(100)


async def test_exact_layer_off_does_not_read_the_entry(
    cache: ResponseCache, store: MemoryAnswerStore
) -> None:
    req = request(UNRELATED)
    store.put(entry_for(req))
    found = await cache.lookup(req, SEMANTIC_ONLY, max_age_s=None)
    assert found.hit is None  # the index has no vector for it: the semantic layer finds nothing
    assert store.reads == []
    assert found.generation == 0


# -- semantic layer ------------------------------------------------------------------------------------


async def test_semantic_hit_through_the_index_and_guard(
    cache: ResponseCache, store: MemoryAnswerStore, index: PartitionedVectorIndex, embedder: FakeEmbedder
) -> None:
    stored = await remember(cache, STORED)
    assert len(index) == 1
    embedder.calls.clear()
    found = await cache.lookup(request(RETYPED), SETTINGS, max_age_s=None)
    assert found.hit is not None
    assert found.hit.layer is CacheLayer.SEMANTIC
    assert found.hit.answer == ANSWER
    assert found.hit.similarity == pytest.approx(float(VECTORS[STORED] @ VECTORS[RETYPED]), abs=1e-5)
    assert found.hit.similarity is not None
    assert 0.99 < found.hit.similarity < 1.0
    assert found.hit.age_s == pytest.approx(0.0)
    assert found.generation == 0
    assert found.vector is not None
    np.testing.assert_array_equal(found.vector, VECTORS[RETYPED])
    assert embedder.calls == [RETYPED]
    assert store.reads[-1] == (NS, [stored.entry_id])  # the candidate is re-read from the store


async def test_semantic_candidate_refused_by_the_guard_is_a_miss(cache: ResponseCache) -> None:
    await remember(cache, PERCENT_80)
    found = await cache.lookup(request(PERCENT_90), SETTINGS, max_age_s=None)
    assert found.hit is None
    assert found.generation == 0
    assert found.vector is not None  # kept, to store the fresh answer without embedding again


async def test_semantic_candidate_below_threshold_is_a_miss(
    cache: ResponseCache, store: MemoryAnswerStore
) -> None:
    await remember(cache, STORED)
    reads = len(store.reads)
    found = await cache.lookup(request(UNRELATED), SETTINGS, max_age_s=None)
    assert found.hit is None
    assert found.vector is not None
    assert len(store.reads) == reads + 1  # the exact read only: no candidate to re-read


async def test_semantic_candidate_gone_from_the_store_is_a_miss(
    cache: ResponseCache, store: MemoryAnswerStore
) -> None:
    """The index may lag Redis: a candidate whose entry expired or was purged is not served."""
    await remember(cache, STORED)
    store.entries.clear()
    assert (await cache.lookup(request(RETYPED), SETTINGS, max_age_s=None)).hit is None


async def test_semantic_candidate_of_another_partition_is_never_compared(cache: ResponseCache) -> None:
    await remember(cache, STORED)
    other = request(RETYPED, system="Answer in French.")
    found = await cache.lookup(other, SETTINGS, max_age_s=None)
    assert found.hit is None
    assert found.vector is None  # no vector of that partition here: not even embedded (done when storing)


async def test_semantic_candidate_with_foreign_scope_is_refused(
    cache: ResponseCache, store: MemoryAnswerStore
) -> None:
    stored = await remember(cache, STORED)
    store.put(replace(store.entries[(NS, stored.entry_id)], partition="f" * 64))
    assert (await cache.lookup(request(RETYPED), SETTINGS, max_age_s=None)).hit is None


async def test_embedder_returning_none_is_a_miss_with_the_generation_kept(
    cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder
) -> None:
    await remember(cache, STORED)
    embedder.vectors.pop(RETYPED)  # over budget, busy, failed: all None
    found = await cache.lookup(request(RETYPED), SETTINGS, max_age_s=None)
    assert found.hit is None
    assert found.generation == 0
    assert found.vector is None
    assert embedder.calls[-1] == RETYPED


async def test_redis_failing_is_a_miss_and_nothing_is_stored(
    cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder
) -> None:
    req = request(STORED)
    store.put(entry_for(req))
    store.failing = True
    found = await cache.lookup(req, SETTINGS, max_age_s=None)
    assert found.hit is None
    assert found.generation is None
    assert found.vector is None
    assert embedder.calls == []  # no generation: no point embedding, nothing could be stored


async def test_generation_none_stops_the_semantic_layer(
    cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder
) -> None:
    await remember(cache, STORED)
    embedder.calls.clear()
    store.failing = True
    found = await cache.lookup(request(RETYPED), SEMANTIC_ONLY, max_age_s=None)
    assert found == Lookup(None, None, None)
    assert embedder.calls == []


# -- semantic_applicable ------------------------------------------------------------------------------


def test_semantic_applicable(
    cache: ResponseCache, store: MemoryAnswerStore, index: PartitionedVectorIndex
) -> None:
    assert cache.semantic_applicable(request(STORED), SETTINGS)
    assert cache.semantic_applicable(request("x" * SEMANTIC_MAX_PROMPT_CHARS), SETTINGS)
    assert not cache.semantic_applicable(request("x" * (SEMANTIC_MAX_PROMPT_CHARS + 1)), SETTINGS)
    assert not cache.semantic_applicable(request("Какая столица Франции?"), SETTINGS)  # guard_supports false
    assert not cache.semantic_applicable(replace(request(STORED), prompt=None), SETTINGS)
    assert not cache.semantic_applicable(replace(request(STORED), prompt=""), SETTINGS)
    assert not cache.semantic_applicable(request(STORED), EXACT_ONLY)
    assert not cache.semantic_applicable(request(STORED), replace(SETTINGS, enabled=False))
    without = ResponseCache(store, index, None, CacheStatsRecorder(None))
    assert not without.semantic_applicable(request(STORED), SETTINGS)


async def test_lookup_without_embedder_uses_the_exact_layer_only(
    store: MemoryAnswerStore, index: PartitionedVectorIndex
) -> None:
    cache = ResponseCache(store, index, None, CacheStatsRecorder(None), clock=Clock())
    req = request(STORED)
    assert (await cache.lookup(req, SETTINGS, max_age_s=None)).hit is None
    store.put(entry_for(req))
    found = await cache.lookup(req, SETTINGS, max_age_s=None)
    assert found.hit is not None
    assert found.hit.layer is CacheLayer.EXACT


async def test_long_prompt_is_not_embedded(cache: ResponseCache, embedder: FakeEmbedder) -> None:
    long = "Explain this: " + "word " * 300
    found = await cache.lookup(request(long), SETTINGS, max_age_s=None)
    assert found.hit is None
    assert found.generation == 0
    assert embedder.calls == []


# -- store_later ---------------------------------------------------------------------------------------


async def test_store_later_writes_with_the_generation_given(
    cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder
) -> None:
    store.generations[NS] = 3
    req = request(STORED)
    vector = VECTORS[STORED]
    assert cache.store_later(TENANT, req, SETTINGS, ANSWER, generation=3, vector=vector)
    await cache.drain()
    [(written, written_vector, ttl_s, embedder_name)] = store.writes
    assert written == CacheEntry(req.entry_id, NS, req.partition, STORED, ANSWER, 3, NOW)
    assert written_vector is vector
    assert ttl_s == SETTINGS.ttl_s
    assert embedder_name == FAKE_EMBEDDER
    assert embedder.calls == []  # the lookup's vector is reused
    assert cache.stats.pending(TENANT) == {"stored": 1}
    found = await cache.lookup(req, SETTINGS, max_age_s=None)
    assert found.hit is not None
    assert found.hit.layer is CacheLayer.EXACT


async def test_store_later_under_an_old_generation_is_dropped(
    cache: ResponseCache, store: MemoryAnswerStore
) -> None:
    """An answer computed before a purge is never stored after it (the store refuses; not counted)."""
    store.generations[NS] = 1
    assert cache.store_later(TENANT, request(STORED), SETTINGS, ANSWER, generation=0, vector=None)
    await cache.drain()
    assert len(store.writes) == 1
    assert store.entries == {}
    assert cache.stats.pending(TENANT) == {}


async def test_store_later_embeds_when_no_vector(
    cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder, index: PartitionedVectorIndex
) -> None:
    assert cache.store_later(TENANT, request(STORED), SETTINGS, ANSWER, generation=0, vector=None)
    await cache.drain()
    assert embedder.calls == [STORED]
    [(_, vector, _, _)] = store.writes
    assert vector is not None
    np.testing.assert_array_equal(vector, VECTORS[STORED])
    assert len(index) == 1


async def test_store_later_without_semantic_layer_stores_no_vector(
    cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder
) -> None:
    assert cache.store_later(TENANT, request(STORED), EXACT_ONLY, ANSWER, generation=0, vector=None)
    await cache.drain()
    assert embedder.calls == []
    [(_, vector, _, _)] = store.writes
    assert vector is None


async def test_store_later_when_the_embedder_gives_none_stores_without_vector(
    cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder
) -> None:
    embedder.vectors.clear()
    assert cache.store_later(TENANT, request(STORED), SETTINGS, ANSWER, generation=0, vector=None)
    await cache.drain()
    [(_, vector, _, _)] = store.writes
    assert vector is None
    assert cache.stats.pending(TENANT) == {"stored": 1}  # the exact layer still has it


async def test_stored_counted_only_when_the_write_succeeded(
    cache: ResponseCache, store: MemoryAnswerStore
) -> None:
    store.write_result = False
    assert cache.store_later(TENANT, request(STORED), SETTINGS, ANSWER, generation=0, vector=None)
    await cache.drain()
    assert len(store.writes) == 1
    assert cache.stats.pending(TENANT) == {}
    store.write_result = None
    assert cache.store_later(TENANT, request(STORED), SETTINGS, ANSWER, generation=0, vector=None)
    await cache.drain()
    assert cache.stats.pending(TENANT) == {"stored": 1}


async def test_store_later_failure_is_swallowed(
    cache: ResponseCache, store: MemoryAnswerStore, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: object, **_kw: object) -> bool:
        raise RuntimeError("boom")

    store.write = broken  # type: ignore[method-assign]
    assert cache.store_later(TENANT, request(STORED), SETTINGS, ANSWER, generation=0, vector=None)
    await cache.drain()
    assert cache.stats.pending(TENANT) == {}
    assert "storing a cache entry failed" in caplog.text


async def test_store_later_drops_when_max_pending_writes_reached(
    store: MemoryAnswerStore, index: PartitionedVectorIndex, embedder: FakeEmbedder
) -> None:
    cache = ResponseCache(
        store, index, embedder, CacheStatsRecorder(None), clock=Clock(), max_pending_writes=2
    )
    store.write_gate = asyncio.Event()
    prompts = [STORED, PERCENT_80, UNRELATED]
    accepted = [
        cache.store_later(TENANT, request(p), SETTINGS, ANSWER, generation=0, vector=VECTORS[p])
        for p in prompts
    ]
    assert accepted == [True, True, False]
    await asyncio.sleep(0.01)
    assert len(store.writes) == 2  # both waiting at the gate
    store.write_gate.set()
    await cache.drain()
    assert cache.stats.pending(TENANT) == {"stored": 2}
    assert cache.store_later(TENANT, request(UNRELATED), SETTINGS, ANSWER, generation=0, vector=None)
    await cache.drain()
    assert cache.stats.pending(TENANT) == {"stored": 3}


async def test_drain_with_nothing_pending(cache: ResponseCache) -> None:
    await cache.drain()


async def test_generation_reads_the_store(cache: ResponseCache, store: MemoryAnswerStore) -> None:
    store.generations[NS] = 5
    assert await cache.generation(NS) == 5
    store.failing = True
    assert await cache.generation(NS) is None


async def test_normalized_repeat_below_the_threshold_is_a_hit(
    cache: ResponseCache, embedder: FakeEmbedder
) -> None:
    """The index proposes candidates from the guard's identical floor: a re-typed repeat (same prompt
    once normalized) is served below the threshold; a different prompt at that similarity is not."""
    await remember(cache, STORED)
    embedder.vectors[RETYPED] = unit(1.0, 0.75)  # cosine 0.8 < threshold 0.9
    found = await cache.lookup(request(RETYPED), SETTINGS, max_age_s=None)
    assert found.hit is not None
    assert found.hit.similarity == pytest.approx(0.8, abs=1e-5)
    other = "What are good ways to sort a dictionary by value?"
    embedder.vectors[other] = unit(1.0, 0.75)
    assert (await cache.lookup(request(other), SETTINGS, max_age_s=None)).hit is None


# -- the prompt is stored for the semantic layer only -------------------------------------------------


async def test_exact_only_entry_stores_no_prompt(cache: ResponseCache, store: MemoryAnswerStore) -> None:
    assert cache.store_later(TENANT, request(STORED), EXACT_ONLY, ANSWER, generation=0, vector=None)
    await cache.drain()
    [(written, vector, _, _)] = store.writes
    assert (written.prompt, vector) == (None, None)
    found = await cache.lookup(request(STORED), EXACT_ONLY, max_age_s=None)
    assert found.hit is not None  # the exact layer does not need it


async def test_entry_without_embedder_stores_no_prompt(
    store: MemoryAnswerStore, index: PartitionedVectorIndex
) -> None:
    cache = ResponseCache(store, index, None, CacheStatsRecorder(None), clock=Clock())
    assert cache.store_later(TENANT, request(STORED), SETTINGS, ANSWER, generation=0, vector=None)
    await cache.drain()
    [(written, _, _, _)] = store.writes
    assert written.prompt is None


async def test_semantic_entry_stores_its_prompt_even_without_a_vector(
    cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder
) -> None:
    """The entry id may already be indexed (an earlier write): its guard still needs the prompt."""
    embedder.vectors.clear()
    assert cache.store_later(TENANT, request(STORED), SETTINGS, ANSWER, generation=0, vector=None)
    await cache.drain()
    [(written, vector, _, _)] = store.writes
    assert (written.prompt, vector) == (STORED, None)


# -- store embeds: their own embedder and cap ----------------------------------------------------------


async def test_store_embeds_use_their_own_embedder_and_cap(
    store: MemoryAnswerStore, index: PartitionedVectorIndex, embedder: FakeEmbedder
) -> None:
    planted = request(STORED)  # a vector to compare with, so lookups embed
    await store.write(entry_for(planted), VECTORS[STORED], ttl_s=600, embedder=FAKE_EMBEDDER)
    store.writes.clear()
    stores = FakeEmbedder(VECTORS)
    stores.gate = asyncio.Event()
    cache = ResponseCache(
        store,
        index,
        embedder,
        CacheStatsRecorder(None),
        clock=Clock(),
        store_embedder=stores,
        store_embed_max_in_flight=2,
    )
    for prompt in (STORED, PERCENT_80, UNRELATED):
        assert cache.store_later(TENANT, request(prompt), SETTINGS, ANSWER, generation=0, vector=None)
    await asyncio.sleep(0.01)
    assert stores.calls == [STORED, PERCENT_80]  # both waiting: the third is over the cap
    assert embedder.calls == []  # the lookups' embedder is never used to store
    [(written, vector, _, _)] = store.writes  # the third did not wait: exact layer only
    assert (written.entry_id, written.prompt, vector) == (request(UNRELATED).entry_id, UNRELATED, None)
    assert cache.semantic_stores_skipped == 1
    # meanwhile a lookup embeds with its own embedder, not blocked by the stores
    found = await asyncio.wait_for(cache.lookup(request(RETYPED), SETTINGS, max_age_s=None), 1.0)
    assert found.hit is not None
    assert found.hit.layer is CacheLayer.SEMANTIC
    assert embedder.calls == [RETYPED]
    stores.gate.set()
    await cache.drain()
    assert [vector is not None for _, vector, _, _ in store.writes] == [False, True, True]
    assert cache.stats.pending(TENANT) == {"stored": 3}
    assert cache.store_later(TENANT, request(RETYPED), SETTINGS, ANSWER, generation=0, vector=None)
    await cache.drain()  # slots freed: embedded again
    assert store.writes[-1][1] is not None
    assert cache.semantic_stores_skipped == 1


# -- big partitions are scanned in a worker thread -----------------------------------------------------


class RecordingIndex(PartitionedVectorIndex):
    """Records the thread each search runs in."""

    def __init__(self) -> None:
        super().__init__(dimensions=DIMENSIONS, embedder=FAKE_EMBEDDER)
        self.threads: list[int] = []

    def search(
        self,
        partition: str,
        vector: np.typing.NDArray[np.float32],
        *,
        threshold: float,
        limit: int = 3,
        now: float | None = None,
    ) -> list[tuple[str, float]]:
        self.threads.append(threading.get_ident())
        return super().search(partition, vector, threshold=threshold, limit=limit, now=now)


class SizedIndex(RecordingIndex):
    """An index that reports every partition's size as `size` (`partition_size`)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def partition_size(self, partition: str) -> int:
        return self.size


def offloading_cache(index: PartitionedVectorIndex, clock: Clock | None = None) -> ResponseCache:
    store = MemoryAnswerStore(index=index)
    return ResponseCache(
        store,
        index,
        FakeEmbedder(VECTORS),
        CacheStatsRecorder(None),
        clock=clock or Clock(),
        offload_scan_vectors=1,
    )


async def test_big_partition_is_scanned_in_a_worker_thread() -> None:
    index = RecordingIndex()
    cache = offloading_cache(index)
    await remember(cache, STORED)
    found = await cache.lookup(request(RETYPED), SETTINGS, max_age_s=None)
    assert found.hit is not None
    assert index.threads == [threading.get_ident()]  # one vector: inline
    await remember(cache, PERCENT_80)
    found = await cache.lookup(request(RETYPED), SETTINGS, max_age_s=None)
    assert found.hit is not None
    assert found.hit.layer is CacheLayer.SEMANTIC
    assert index.threads[1] != threading.get_ident()  # two vectors > 1: a worker thread


@pytest.mark.parametrize(("size", "offloaded"), [(1, False), (2, True)])
async def test_partition_size_decides_where_the_scan_runs(size: int, offloaded: bool) -> None:
    index = SizedIndex(size)
    cache = offloading_cache(index)
    await remember(cache, STORED)
    found = await cache.lookup(request(RETYPED), SETTINGS, max_age_s=None)
    assert found.hit is not None
    assert (index.threads[0] != threading.get_ident()) is offloaded

"""`RequestCache`: one request's status (hit / miss / bypass), its counters, the hit reply in either wire
form, and storing only complete answers (never under `no-store`)."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import orjson
import pytest

from control_plane.model import (
    CACHE_HEADER,
    CACHE_LAYER_HEADER,
    CACHE_SIMILARITY_HEADER,
    CacheLayer,
    CacheSettings,
    HitBilling,
)
from ext_proc.cache.answer import MAX_ANSWER_CHARS
from ext_proc.cache.contracts import CachedAnswer, CacheEntry, CacheHit, CacheRequest
from ext_proc.cache.request_cache import CacheStatus, RequestCache
from ext_proc.cache.request_key import cache_request
from ext_proc.cache.service import ResponseCache
from ext_proc.cache.stats import CacheStatsRecorder
from ext_proc.cache.vector_index import PartitionedVectorIndex
from tests.support.cache_fakes import DIMENSIONS, FAKE_EMBEDDER, FakeEmbedder, MemoryAnswerStore, unit

TENANT = "acme"
NS = "t.acme"
MODEL = "gpt-4o-mini"
PROMPT = "What is the capital of France?"
DOCUMENT: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
ANSWER = CachedAnswer(content="Paris.", model="gpt-4o-mini-2024", prompt_tokens=14, completion_tokens=2)
SETTINGS = CacheSettings(
    enabled=True,
    layers=frozenset({CacheLayer.EXACT, CacheLayer.SEMANTIC}),
    similarity_threshold=0.9,
    ttl_s=600,
    hit_billing=HitBilling.FREE,
    namespace=None,
)
RATE = (("x-ratelimit-remaining-requests", "59"),)

RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 14, "completion_tokens": 2, "total_tokens": 16},
}


def chunk(choices: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "model": "gpt-4o-mini-2024", "choices": choices, **fields}


CHUNKS: list[dict[str, Any]] = [
    chunk([{"index": 0, "delta": {"role": "assistant", "content": "Par"}}]),
    chunk([{"index": 0, "delta": {"content": "is."}}]),
    chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
    chunk([], usage={"prompt_tokens": 14, "completion_tokens": 2}),
]


@pytest.fixture
def store() -> MemoryAnswerStore:
    return MemoryAnswerStore()


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder({PROMPT: unit(1.0)})


@pytest.fixture
def cache(store: MemoryAnswerStore, embedder: FakeEmbedder) -> ResponseCache:
    index = PartitionedVectorIndex(dimensions=DIMENSIONS, embedder=FAKE_EMBEDDER)
    store.index = index
    return ResponseCache(store, index, embedder, CacheStatsRecorder(None), clock=lambda: 1000.0)


def open_cache(
    cache: ResponseCache | None,
    *,
    headers: dict[str, str] | None = None,
    document: dict[str, Any] | None = None,
    settings: CacheSettings = SETTINGS,
) -> RequestCache:
    return RequestCache.open(
        cache,
        headers=headers or {},
        document=document or DOCUMENT,
        tenant=TENANT,
        model=MODEL,
        settings=settings,
    )


def cache_request_of(document: dict[str, Any] = DOCUMENT) -> CacheRequest:
    keyed = cache_request(document, namespace=NS, model=MODEL)
    assert isinstance(keyed, CacheRequest)
    return keyed


def plant(store: MemoryAnswerStore, *, stored_at: float = 990.0) -> None:
    req = cache_request_of()
    store.put(CacheEntry(req.entry_id, NS, req.partition, PROMPT, ANSWER, 0, stored_at))


# -- bypass --------------------------------------------------------------------------------------------


async def test_no_cache_configured_is_a_bypass() -> None:
    request_cache = open_cache(None)
    assert await request_cache.lookup() is None
    assert request_cache.status is CacheStatus.BYPASS
    assert request_cache.headers() == ((CACHE_HEADER, "bypass"),)
    assert not request_cache.storing
    request_cache.complete_json(RESPONSE)  # nothing to store into, no error


@pytest.mark.parametrize(
    ("headers", "document", "settings"),
    [
        ({}, DOCUMENT, replace(SETTINGS, enabled=False)),
        ({"Cache-Control": "no-store"}, DOCUMENT, SETTINGS),
        ({"cache-control": "max-age=60, no-store"}, DOCUMENT, SETTINGS),
        ({}, {**DOCUMENT, "n": 2}, SETTINGS),
        ({}, {**DOCUMENT, "logprobs": True}, SETTINGS),
    ],
    ids=["policy-disabled", "no-store", "no-store-among-others", "n=2", "logprobs"],
)
async def test_bypass_neither_serves_nor_stores(
    cache: ResponseCache,
    store: MemoryAnswerStore,
    headers: dict[str, str],
    document: dict[str, Any],
    settings: CacheSettings,
) -> None:
    plant(store)
    request_cache = open_cache(cache, headers=headers, document=document, settings=settings)
    assert await request_cache.lookup() is None
    assert request_cache.status is CacheStatus.BYPASS
    assert request_cache.headers() == ((CACHE_HEADER, "bypass"),)
    assert not request_cache.storing
    assert cache.stats.pending(TENANT) == {"bypasses": 1}
    request_cache.complete_json(RESPONSE)
    await cache.drain()
    assert store.writes == []
    assert store.reads == []


async def test_no_cache_bypasses_but_stores_the_answer(
    cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder
) -> None:
    plant(store)
    store.generations[NS] = 0
    request_cache = open_cache(cache, headers={"Pragma": "no-cache"})
    assert await request_cache.lookup() is None
    assert request_cache.status is CacheStatus.BYPASS
    assert store.reads == []  # not looked up
    assert request_cache.storing  # the generation was fetched
    assert cache.stats.pending(TENANT) == {"bypasses": 1}
    request_cache.complete_json(RESPONSE)
    await cache.drain()
    [(entry, vector, _, _)] = store.writes
    assert entry.answer == ANSWER
    assert entry.generation == 0
    assert vector is not None  # not embedded at lookup: embedded when storing
    assert embedder.calls == [PROMPT]
    assert cache.stats.pending(TENANT) == {"bypasses": 1, "stored": 1}


async def test_no_cache_with_redis_failing_stores_nothing(
    cache: ResponseCache, store: MemoryAnswerStore
) -> None:
    store.failing = True
    request_cache = open_cache(cache, headers={"cache-control": "no-cache"})
    assert await request_cache.lookup() is None
    assert not request_cache.storing
    request_cache.complete_json(RESPONSE)
    await cache.drain()
    assert store.writes == []


# -- miss ----------------------------------------------------------------------------------------------


async def test_miss_is_counted_and_the_answer_stored(
    cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder
) -> None:
    store.generations[NS] = 2
    request_cache = open_cache(cache)
    assert await request_cache.lookup() is None
    assert request_cache.status is CacheStatus.MISS
    assert request_cache.headers() == ((CACHE_HEADER, "miss"),)
    assert request_cache.storing
    assert cache.stats.pending(TENANT) == {"misses": 1}
    request_cache.complete_json(RESPONSE)
    request_cache.complete_json(RESPONSE)  # at most once
    await cache.drain()
    [(entry, vector, ttl_s, _)] = store.writes
    assert entry.generation == 2
    assert entry.answer == ANSWER
    assert ttl_s == SETTINGS.ttl_s
    assert vector is not None
    assert embedder.calls == [PROMPT]  # embedded once, at lookup; reused to store
    assert cache.stats.pending(TENANT) == {"misses": 1, "stored": 1}


async def test_exact_only_answer_is_stored_without_its_prompt(
    cache: ResponseCache, store: MemoryAnswerStore, embedder: FakeEmbedder
) -> None:
    request_cache = open_cache(cache, settings=replace(SETTINGS, layers=frozenset({CacheLayer.EXACT})))
    assert await request_cache.lookup() is None
    request_cache.complete_json(RESPONSE)
    await cache.drain()
    [(entry, vector, _, _)] = store.writes
    assert (entry.prompt, vector) == (None, None)
    assert embedder.calls == []


async def test_json_answer_over_the_cap_is_not_stored(cache: ResponseCache, store: MemoryAnswerStore) -> None:
    request_cache = open_cache(cache)
    assert await request_cache.lookup() is None
    big = copy.deepcopy(RESPONSE)
    big["choices"][0]["message"]["content"] = "x" * (MAX_ANSWER_CHARS + 1)
    request_cache.complete_json(big)
    await cache.drain()
    assert store.writes == []


async def test_miss_with_redis_failing_stores_nothing(cache: ResponseCache, store: MemoryAnswerStore) -> None:
    store.failing = True
    request_cache = open_cache(cache)
    assert await request_cache.lookup() is None
    assert request_cache.status is CacheStatus.MISS
    assert not request_cache.storing
    request_cache.observe_chunk(CHUNKS[0])
    request_cache.complete_stream(done=True, error=False)
    request_cache.complete_json(RESPONSE)
    await cache.drain()
    assert store.writes == []


@pytest.mark.parametrize(
    "document",
    [
        None,
        {**RESPONSE, "choices": [{**RESPONSE["choices"][0], "finish_reason": "length"}]},
        {k: v for k, v in RESPONSE.items() if k != "usage"},
    ],
    ids=["unparsed", "truncated", "no-usage"],
)
async def test_incomplete_json_answer_is_not_stored(
    cache: ResponseCache, store: MemoryAnswerStore, document: dict[str, Any] | None
) -> None:
    request_cache = open_cache(cache)
    await request_cache.lookup()
    request_cache.complete_json(document)
    await cache.drain()
    assert store.writes == []


# -- streams -------------------------------------------------------------------------------------------


async def test_complete_stream_is_stored(cache: ResponseCache, store: MemoryAnswerStore) -> None:
    request_cache = open_cache(cache)
    await request_cache.lookup()
    for chunk in CHUNKS:
        request_cache.observe_chunk(chunk)
    request_cache.complete_stream(done=True, error=False)
    request_cache.complete_stream(done=True, error=False)  # at most once
    await cache.drain()
    [(entry, _, _, _)] = store.writes
    assert entry.answer == ANSWER


@pytest.mark.parametrize(("done", "error"), [(False, False), (True, True), (False, True)])
async def test_incomplete_stream_is_not_stored(
    cache: ResponseCache, store: MemoryAnswerStore, done: bool, error: bool
) -> None:
    request_cache = open_cache(cache)
    await request_cache.lookup()
    for chunk in CHUNKS:
        request_cache.observe_chunk(chunk)
    request_cache.complete_stream(done=done, error=error)
    await cache.drain()
    assert store.writes == []


async def test_stream_cut_before_the_finish_is_not_stored(
    cache: ResponseCache, store: MemoryAnswerStore
) -> None:
    request_cache = open_cache(cache)
    await request_cache.lookup()
    request_cache.observe_chunk(CHUNKS[0])
    request_cache.complete_stream(done=True, error=False)
    await cache.drain()
    assert store.writes == []


async def test_stream_without_chunks_stores_nothing(cache: ResponseCache, store: MemoryAnswerStore) -> None:
    request_cache = open_cache(cache)
    await request_cache.lookup()
    request_cache.complete_stream(done=True, error=False)
    await cache.drain()
    assert store.writes == []


# -- hit -----------------------------------------------------------------------------------------------


async def test_exact_hit(cache: ResponseCache, store: MemoryAnswerStore) -> None:
    plant(store)
    request_cache = open_cache(cache)
    hit = await request_cache.lookup()
    assert hit is not None
    assert hit.layer is CacheLayer.EXACT
    assert hit.answer == ANSWER
    assert request_cache.status is CacheStatus.HIT
    assert request_cache.headers() == ((CACHE_HEADER, "hit"),)
    assert not request_cache.storing
    assert cache.stats.pending(TENANT) == {"hits_exact": 1}
    request_cache.complete_json(RESPONSE)  # nothing is stored after a hit
    await cache.drain()
    assert store.writes == []


async def test_hit_billing_follows_the_settings(cache: ResponseCache) -> None:
    assert open_cache(cache).hit_billing is HitBilling.FREE
    priced = replace(SETTINGS, hit_billing=HitBilling.CACHE_PRICE)
    assert open_cache(cache, settings=priced).hit_billing is HitBilling.CACHE_PRICE


async def test_semantic_hit_is_counted(cache: ResponseCache, embedder: FakeEmbedder) -> None:
    retyped = "what's the capital of france"
    embedder.vectors[retyped] = unit(1.0, 0.05)
    first = open_cache(cache)
    await first.lookup()
    first.complete_json(RESPONSE)
    await cache.drain()
    document = {"model": MODEL, "messages": [{"role": "user", "content": retyped}]}
    second = open_cache(cache, document=document)
    hit = await second.lookup()
    assert hit is not None
    assert hit.layer is CacheLayer.SEMANTIC
    assert second.status is CacheStatus.HIT
    assert cache.stats.pending(TENANT) == {"misses": 1, "stored": 1, "hits_semantic": 1}


EXACT_HIT = CacheHit(ANSWER, CacheLayer.EXACT, None, 12.7)
SEMANTIC_HIT = CacheHit(ANSWER, CacheLayer.SEMANTIC, 0.934567, 3.2)


async def test_hit_reply_json(cache: ResponseCache, store: MemoryAnswerStore) -> None:
    plant(store)
    request_cache = open_cache(cache)
    hit = await request_cache.lookup()
    assert hit is not None
    reply = request_cache.hit_reply(
        hit, request_id="req-9", stream=False, include_usage=False, extra_headers=RATE
    )
    assert reply.status == 200
    assert reply.details == "tollway_cache_hit"
    headers = dict(reply.headers)
    assert len(headers) == len(reply.headers)  # no header twice
    assert headers == {
        "content-type": "application/json",
        "x-request-id": "req-9",
        "cache-control": "no-cache",
        CACHE_HEADER: "hit",
        CACHE_LAYER_HEADER: "exact",
        "age": "10",
        **dict(RATE),
    }
    body = orjson.loads(reply.body)
    assert body["id"] == "chatcmpl-req-9"
    assert body["object"] == "chat.completion"
    assert body["model"] == ANSWER.model
    assert body["choices"][0]["message"]["content"] == "Paris."
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 14, "completion_tokens": 2, "total_tokens": 16}


@pytest.mark.parametrize("include_usage", [True, False])
async def test_hit_reply_sse(cache: ResponseCache, store: MemoryAnswerStore, include_usage: bool) -> None:
    plant(store)
    request_cache = open_cache(cache)
    await request_cache.lookup()
    reply = request_cache.hit_reply(
        SEMANTIC_HIT, request_id="req-9", stream=True, include_usage=include_usage, extra_headers=RATE
    )
    headers = dict(reply.headers)
    assert headers["content-type"] == "text/event-stream"
    assert headers[CACHE_HEADER] == "hit"
    assert headers[CACHE_LAYER_HEADER] == "semantic"
    assert headers[CACHE_SIMILARITY_HEADER] == "0.9346"
    assert headers["age"] == "3"
    assert headers["x-ratelimit-remaining-requests"] == "59"
    assert reply.body.endswith(b"data: [DONE]\n\n")
    events = [
        orjson.loads(line[6:]) for line in reply.body.split(b"\n\n") if line and line != b"data: [DONE]"
    ]
    assert all(event["object"] == "chat.completion.chunk" for event in events)
    content = "".join(event["choices"][0]["delta"].get("content", "") for event in events if event["choices"])
    assert content == "Paris."
    usage = [event["usage"] for event in events if not event["choices"]]
    assert usage == (
        [{"prompt_tokens": 14, "completion_tokens": 2, "total_tokens": 16}] if include_usage else []
    )


def test_hit_reply_exact_has_no_similarity_header_and_age_not_negative() -> None:
    request_cache = open_cache(None)
    request_cache.status = CacheStatus.HIT
    reply = request_cache.hit_reply(
        replace(EXACT_HIT, age_s=-0.5), request_id="r", stream=False, include_usage=False, extra_headers=()
    )
    headers = dict(reply.headers)
    assert CACHE_SIMILARITY_HEADER not in headers
    assert headers["age"] == "0"


async def test_record_saving(cache: ResponseCache, store: MemoryAnswerStore) -> None:
    plant(store)
    request_cache = open_cache(cache)
    hit = await request_cache.lookup()
    assert hit is not None
    request_cache.record_saving(hit, full_cost_pico=5_000, billed_cost_pico=1_200)
    assert cache.stats.pending(TENANT) == {
        "hits_exact": 1,
        "saved_prompt_tokens": 14,
        "saved_completion_tokens": 2,
        "saved_cost_pico": 3_800,
    }
    request_cache.record_saving(hit, full_cost_pico=100, billed_cost_pico=500)  # never negative
    assert cache.stats.pending(TENANT)["saved_cost_pico"] == 3_800


def test_record_saving_without_cache_is_a_no_op() -> None:
    open_cache(None).record_saving(EXACT_HIT, full_cost_pico=10, billed_cost_pico=0)

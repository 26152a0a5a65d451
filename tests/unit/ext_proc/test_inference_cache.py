"""The inference processor's response-cache path, driven by real ProcessingRequests over an in-memory
cache (`ResponseCache` on `MemoryAnswerStore` + `FakeEmbedder`): a hit is an immediate reply billed as a
cache hit (free or at the cache price) after admission; a miss is marked on the response and its complete
answer (JSON, or a stream after `[DONE]`) stored; endpoints other than chat completions never touch it."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import orjson
import pytest

from control_plane.model import (
    CACHE_HEADER,
    CACHE_LAYER_HEADER,
    CACHE_SIMILARITY_HEADER,
    CachePolicy,
    HitBilling,
    Plan,
    Price,
    RegistrySpec,
    RequestOutcome,
    Snapshot,
    Tenant,
)
from ext_proc.cache.contracts import CachedAnswer, CacheEntry, CacheRequest
from ext_proc.cache.request_key import cache_request
from ext_proc.cache.service import ResponseCache
from ext_proc.cache.stats import CacheStatsRecorder
from ext_proc.cache.vector_index import PartitionedVectorIndex
from ext_proc.errors import RateLimitedError
from ext_proc.governance.contracts import RequestResult
from ext_proc.processors import openai_processors
from ext_proc.server import StreamSession
from ext_proc.services import GatewayServices
from tests.support.cache_fakes import DIMENSIONS, FAKE_EMBEDDER, FakeEmbedder, MemoryAnswerStore, unit
from tests.support.governance_fakes import (
    RATE_LIMIT_HEADERS,
    FakeBilling,
    FakeGate,
    FixedClock,
)

CHAT = "/v1/chat/completions"
MODEL = "gpt-4o-mini"
NS = "t.acme"
NOW = 1_700_000_000.0
PROMPT = "How do I reverse a list in Python?"
RETYPED = "how can i reverse a list in python"
MESSAGES = [{"role": "user", "content": PROMPT}]
BODY: dict[str, Any] = {"model": "mini", "messages": MESSAGES}
STREAM_BODY: dict[str, Any] = {**BODY, "stream": True}
ANSWER = CachedAnswer("Use reversed() or slicing.", "gpt-4o-mini-2024", prompt_tokens=14, completion_tokens=6)
BACKEND = {"x-tollway-backend": "b1"}
SSE = "text/event-stream"

INPUT_MICRO, OUTPUT_MICRO, HIT_MICRO = 150_000, 600_000, 10_000
FULL_COST_PICO = 14 * INPUT_MICRO + 6 * OUTPUT_MICRO
HIT_COST_PICO = (14 + 6) * HIT_MICRO

RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-up",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Fresh."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 14, "completion_tokens": 2, "total_tokens": 16},
}
UPSTREAM_STREAM = (
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":"Hello"}}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024","choices":[{"index":0,'
    b'"delta":{"content":" world"}}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024","choices":[{"index":0,'
    b'"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024","choices":[],'
    b'"usage":{"prompt_tokens":14,"completion_tokens":2,"total_tokens":16}}\n\n'
)
DONE = b"data: [DONE]\n\n"


# -- fixtures: the conftest's, with caching on for plan `standard`, a price, and a cache ---------------


@pytest.fixture
def hit_billing() -> HitBilling:
    return HitBilling.FREE


@pytest.fixture
def snapshot(snapshots: Any, clock: FixedClock, hit_billing: HitBilling) -> Snapshot:
    cached = CachePolicy(enabled=True, hit_billing=hit_billing)
    return Snapshot(
        version=7,
        spec=RegistrySpec(
            models=(
                snapshots.model(MODEL, "mini"),
                snapshots.model("text-embedding-3-small", "embed"),
                snapshots.model("vetoed").model_copy(update={"cache": CachePolicy(enabled=False)}),
            ),
            plans=(Plan(name="standard", output_reserve_tokens=200, cache=cached),),
            tenants=(Tenant(id="acme", plan="standard"),),
            prices=(
                Price(
                    model=MODEL,
                    effective_from=clock() - timedelta(days=1),
                    input_per_1m_micro=INPUT_MICRO,
                    output_per_1m_micro=OUTPUT_MICRO,
                    cache_hit_per_1m_micro=HIT_MICRO,
                ),
            ),
        ),
    )


@pytest.fixture
def index() -> PartitionedVectorIndex:
    return PartitionedVectorIndex(dimensions=DIMENSIONS, embedder=FAKE_EMBEDDER)


@pytest.fixture
def store(index: PartitionedVectorIndex) -> MemoryAnswerStore:
    return MemoryAnswerStore(index=index)


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder({PROMPT: unit(1.0, 0.0), RETYPED: unit(1.0, 0.1)})


@pytest.fixture
def cache(store: MemoryAnswerStore, index: PartitionedVectorIndex, embedder: FakeEmbedder) -> ResponseCache:
    return ResponseCache(store, index, embedder, CacheStatsRecorder(None), clock=lambda: NOW)


@pytest.fixture
def services(services: GatewayServices, cache: ResponseCache) -> GatewayServices:
    """The shared services (conftest), with the response cache."""
    return dataclasses.replace(services, cache=cache)


def plant(
    store: MemoryAnswerStore, messages: list[dict[str, str]] = MESSAGES, *, age_s: float = 30.0
) -> None:
    keyed = cache_request({"model": MODEL, "messages": messages}, namespace=NS, model=MODEL)
    assert isinstance(keyed, CacheRequest)
    store.put(CacheEntry(keyed.entry_id, NS, keyed.partition, keyed.prompt, ANSWER, 0, NOW - age_s))


async def send_request(
    session: StreamSession, driver: Any, body: dict[str, Any], *, path: str = CHAT, extra: Any = ()
) -> Any:
    await driver.answer(session, driver.request_headers("POST", path, extra=extra))
    return await driver.answer(session, driver.request_body(body))


def immediate_headers(response: Any) -> dict[str, str]:
    assert response.WhichOneof("response") == "immediate_response"
    headers: dict[str, str] = driver_set_headers(response.immediate_response.headers)
    return headers


def driver_set_headers(mutation: Any) -> dict[str, str]:
    return {option.header.key: option.header.raw_value.decode() for option in mutation.set_headers}


def hit_result(clock: FixedClock, prompt_tokens: int = 0, completion_tokens: int = 0) -> RequestResult:
    return RequestResult(
        outcome=RequestOutcome.CACHE_HIT,
        status_code=200,
        finished_at=clock(),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cache_hit=True,
    )


# -- hits ----------------------------------------------------------------------------------------------


async def test_hit_is_an_immediate_reply_billed_free(
    session: StreamSession,
    driver: Any,
    store: MemoryAnswerStore,
    cache: ResponseCache,
    gate: FakeGate,
    billing: FakeBilling,
    clock: FixedClock,
) -> None:
    plant(store)
    response = await send_request(session, driver, BODY)
    status, headers, body, details = driver.immediate(response)
    assert (status, details) == (200, "tollway_cache_hit")
    assert headers == {
        "content-type": "application/json",
        "x-request-id": "req-1",
        "cache-control": "no-cache",
        CACHE_HEADER: "hit",
        CACHE_LAYER_HEADER: "exact",
        "age": "30",
        **dict(RATE_LIMIT_HEADERS),
    }
    assert body["id"] == "chatcmpl-req-1"
    assert body["model"] == ANSWER.model
    assert body["choices"][0]["message"]["content"] == ANSWER.content
    assert body["usage"] == {"prompt_tokens": 14, "completion_tokens": 6, "total_tokens": 20}
    assert len(gate.requests) == 1  # admitted first: a hit never escapes a quota
    await session.close()
    assert billing.results == [hit_result(clock)]  # exactly once, 0 tokens
    assert cache.stats.pending("acme") == {
        "hits_exact": 1,
        "saved_prompt_tokens": 14,
        "saved_completion_tokens": 6,
        "saved_cost_pico": FULL_COST_PICO,
    }


@pytest.mark.parametrize("hit_billing", [HitBilling.CACHE_PRICE])
async def test_hit_at_the_cache_price_bills_the_answers_tokens(
    session: StreamSession,
    driver: Any,
    store: MemoryAnswerStore,
    cache: ResponseCache,
    billing: FakeBilling,
    clock: FixedClock,
) -> None:
    plant(store)
    status, _headers, _body, _details = driver.immediate(await send_request(session, driver, BODY))
    assert status == 200
    await session.close()
    assert billing.results == [hit_result(clock, prompt_tokens=14, completion_tokens=6)]
    assert cache.stats.pending("acme")["saved_cost_pico"] == FULL_COST_PICO - HIT_COST_PICO


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream_hit_is_a_whole_sse_body(
    session: StreamSession, driver: Any, store: MemoryAnswerStore, billing: FakeBilling, include_usage: bool
) -> None:
    plant(store)
    body = {**STREAM_BODY, "stream_options": {"include_usage": True}} if include_usage else STREAM_BODY
    response = await send_request(session, driver, body)
    headers = immediate_headers(response)
    assert headers["content-type"] == SSE
    assert headers[CACHE_HEADER] == "hit"
    raw = response.immediate_response.body
    assert raw.endswith(DONE)
    events = [orjson.loads(part[6:]) for part in raw.split(b"\n\n") if part and part != b"data: [DONE]"]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == ANSWER.content
    # usage only when the client asked for it (not when the gateway injected include_usage)
    assert any("usage" in e for e in events) is include_usage
    assert [r.outcome for r in billing.results] == [RequestOutcome.CACHE_HIT]


async def test_semantic_hit_carries_the_similarity(
    session: StreamSession, driver: Any, services: GatewayServices, cache: ResponseCache
) -> None:
    miss = await send_request(session, driver, BODY)
    assert miss.WhichOneof("response") == "request_body"
    await driver.answer(session, driver.response_headers(200, extra=BACKEND))
    await driver.answer(session, driver.response_body(RESPONSE))
    await session.close()
    await cache.drain()
    second = StreamSession(openai_processors(services))  # a new request on the same services
    response = await send_request(
        second, driver, {"model": "mini", "messages": [{"role": "user", "content": RETYPED}]}
    )
    headers = immediate_headers(response)
    assert headers[CACHE_LAYER_HEADER] == "semantic"
    assert float(headers[CACHE_SIMILARITY_HEADER]) == pytest.approx(0.995, abs=0.001)
    assert orjson.loads(response.immediate_response.body)["choices"][0]["message"]["content"] == "Fresh."
    assert cache.stats.pending("acme")["hits_semantic"] == 1


# -- misses --------------------------------------------------------------------------------------------


async def test_miss_is_marked_and_the_json_answer_stored(
    session: StreamSession,
    driver: Any,
    services: GatewayServices,
    store: MemoryAnswerStore,
    cache: ResponseCache,
    billing: FakeBilling,
) -> None:
    response = await send_request(session, driver, BODY)
    assert response.WhichOneof("response") == "request_body"
    response = await driver.answer(session, driver.response_headers(200, extra=BACKEND))
    headers = driver_set_headers(response.response_headers.response.header_mutation)
    assert headers == {**dict(RATE_LIMIT_HEADERS), CACHE_HEADER: "miss"}
    await driver.answer(session, driver.response_body(RESPONSE))
    await session.close()
    await cache.drain()
    [(entry, vector, _, _)] = store.writes
    assert entry.answer == CachedAnswer("Fresh.", "gpt-4o-mini-2024", 14, 2)
    assert entry.prompt == PROMPT
    assert vector is not None
    assert [r.outcome for r in billing.results] == [RequestOutcome.OK]
    assert cache.stats.pending("acme") == {"misses": 1, "stored": 1}
    # the same request is now an exact hit
    again = await send_request(StreamSession(openai_processors(services)), driver, BODY)
    assert immediate_headers(again)[CACHE_LAYER_HEADER] == "exact"


async def test_streamed_answer_is_stored_after_done(
    session: StreamSession, driver: Any, store: MemoryAnswerStore, cache: ResponseCache
) -> None:
    await send_request(session, driver, STREAM_BODY)
    response = await driver.answer(session, driver.response_headers(200, SSE, extra=BACKEND))
    assert driver_set_headers(response.response_headers.response.header_mutation)[CACHE_HEADER] == "miss"
    await driver.answer(session, driver.response_body(UPSTREAM_STREAM, end_of_stream=False))
    await cache.drain()
    assert store.writes == []  # not before [DONE]
    await driver.answer(session, driver.response_body(DONE, end_of_stream=True))
    await session.close()
    await cache.drain()
    [(entry, _, _, _)] = store.writes
    assert entry.answer == CachedAnswer("Hello world", "gpt-4o-mini-2024", 14, 2)


async def test_cut_stream_is_not_stored(
    session: StreamSession, driver: Any, store: MemoryAnswerStore, cache: ResponseCache
) -> None:
    await send_request(session, driver, STREAM_BODY)
    await driver.answer(session, driver.response_headers(200, SSE, extra=BACKEND))
    await driver.answer(session, driver.response_body(UPSTREAM_STREAM, end_of_stream=True))  # no [DONE]
    await session.close()
    await cache.drain()
    assert store.writes == []


async def test_stream_abandoned_by_the_client_is_not_stored(
    session: StreamSession, driver: Any, store: MemoryAnswerStore, cache: ResponseCache, billing: FakeBilling
) -> None:
    await send_request(session, driver, STREAM_BODY)
    await driver.answer(session, driver.response_headers(200, SSE, extra=BACKEND))
    await driver.answer(session, driver.response_body(UPSTREAM_STREAM, end_of_stream=False))
    await session.close()  # the client went away
    await cache.drain()
    assert store.writes == []
    assert [r.outcome for r in billing.results] == [RequestOutcome.INCOMPLETE]


async def test_upstream_error_is_not_stored(
    session: StreamSession, driver: Any, store: MemoryAnswerStore, cache: ResponseCache
) -> None:
    await send_request(session, driver, BODY)
    response = await driver.answer(session, driver.response_headers(500, extra=BACKEND))
    assert driver_set_headers(response.response_headers.response.header_mutation)[CACHE_HEADER] == "miss"
    await session.close()
    await cache.drain()
    assert store.writes == []


async def test_no_store_is_a_bypass_and_nothing_is_stored(
    session: StreamSession, driver: Any, store: MemoryAnswerStore, cache: ResponseCache
) -> None:
    plant(store)
    response = await send_request(session, driver, BODY, extra={"cache-control": "no-store"})
    assert response.WhichOneof("response") == "request_body"
    response = await driver.answer(session, driver.response_headers(200, extra=BACKEND))
    assert driver_set_headers(response.response_headers.response.header_mutation)[CACHE_HEADER] == "bypass"
    await driver.answer(session, driver.response_body(RESPONSE))
    await session.close()
    await cache.drain()
    assert store.writes == []
    assert cache.stats.pending("acme") == {"bypasses": 1}


async def test_no_cache_goes_upstream_and_refreshes_the_entry(
    session: StreamSession, driver: Any, store: MemoryAnswerStore, cache: ResponseCache
) -> None:
    plant(store)
    response = await send_request(session, driver, BODY, extra={"cache-control": "no-cache"})
    assert response.WhichOneof("response") == "request_body"
    response = await driver.answer(session, driver.response_headers(200, extra=BACKEND))
    assert driver_set_headers(response.response_headers.response.header_mutation)[CACHE_HEADER] == "bypass"
    await driver.answer(session, driver.response_body(RESPONSE))
    await session.close()
    await cache.drain()
    [(entry, _, _, _)] = store.writes
    assert entry.answer.content == "Fresh."


async def test_refused_request_never_reaches_the_cache(
    session: StreamSession, driver: Any, store: MemoryAnswerStore, gate: FakeGate, billing: FakeBilling
) -> None:
    plant(store)
    gate.refusal = RateLimitedError("Rate limit reached for requests.", kind="requests")
    status, _headers, _body, _details = driver.immediate(await send_request(session, driver, BODY))
    assert status == 429
    assert store.reads == []
    assert billing.results == []


# -- other endpoints -----------------------------------------------------------------------------------


EMBEDDINGS_RESPONSE: dict[str, Any] = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 9, "total_tokens": 9},
}
COMPLETION_RESPONSE: dict[str, Any] = {
    "object": "text_completion",
    "model": MODEL,
    "choices": [{"index": 0, "text": "x", "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
}


@pytest.mark.parametrize(
    ("path", "body", "upstream"),
    [
        ("/v1/embeddings", {"model": "embed", "input": PROMPT}, EMBEDDINGS_RESPONSE),
        ("/v1/completions", {"model": "mini", "prompt": PROMPT}, COMPLETION_RESPONSE),
    ],
    ids=["embeddings", "completions"],
)
async def test_other_endpoints_never_get_a_cache_header(
    session: StreamSession,
    driver: Any,
    store: MemoryAnswerStore,
    cache: ResponseCache,
    billing: FakeBilling,
    path: str,
    body: dict[str, Any],
    upstream: dict[str, Any],
) -> None:
    response = await send_request(session, driver, body, path=path)
    assert response.WhichOneof("response") == "request_body"
    response = await driver.answer(session, driver.response_headers(200, extra=BACKEND))
    headers = driver_set_headers(response.response_headers.response.header_mutation)
    assert CACHE_HEADER not in headers
    assert headers == dict(RATE_LIMIT_HEADERS)
    await driver.answer(session, driver.response_body(upstream))
    await session.close()
    await cache.drain()
    assert store.reads == []
    assert store.writes == []
    assert cache.stats.pending("acme") == {}
    assert [r.outcome for r in billing.results] == [RequestOutcome.OK]


async def test_model_veto_is_a_bypass(
    session: StreamSession, driver: Any, store: MemoryAnswerStore, cache: ResponseCache
) -> None:
    """A model with `cache.enabled: false` is never served from nor stored in the cache."""
    body = {"model": "vetoed", "messages": MESSAGES}
    response = await send_request(session, driver, body)
    assert response.WhichOneof("response") == "request_body"
    response = await driver.answer(session, driver.response_headers(200, extra=BACKEND))
    assert driver_set_headers(response.response_headers.response.header_mutation)[CACHE_HEADER] == "bypass"
    await driver.answer(session, driver.response_body(RESPONSE))
    await session.close()
    await cache.drain()
    assert store.reads == []
    assert store.writes == []
    assert cache.stats.pending("acme") == {"bypasses": 1}

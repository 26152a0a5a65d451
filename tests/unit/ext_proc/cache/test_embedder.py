"""`BudgetedEmbedder` (a blocking model in worker threads, with a time budget and a cap on calls in
flight, never blocking the event loop) and `RemoteEmbedder` (an OpenAI-compatible endpoint, through an
`httpx.MockTransport`): every failure is None, counted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine

import httpx
import numpy as np
import orjson
import pytest

from ext_proc.cache.embedder import MAX_EMBED_CHARS, BudgetedEmbedder, RemoteEmbedder
from tests.support.cache_fakes import SleepyModel, unit


async def settle(embedder: BudgetedEmbedder, timeout_s: float = 5.0) -> None:
    """Wait until no call is running in the worker threads any more (even abandoned ones)."""
    deadline = time.monotonic() + timeout_s
    while embedder._in_flight:  # private: the only way to know the threads are done
        assert time.monotonic() < deadline, "an embedding thread never finished"
        await asyncio.sleep(0.005)


@pytest.fixture
async def budgeted() -> AsyncIterator[Callable[..., BudgetedEmbedder]]:
    made: list[BudgetedEmbedder] = []

    def make(model: SleepyModel, **kw: float) -> BudgetedEmbedder:
        embedder = BudgetedEmbedder(model, **kw)  # type: ignore[arg-type]
        made.append(embedder)
        return embedder

    yield make
    for embedder in made:
        await settle(embedder)
        await embedder.aclose()


# -- BudgetedEmbedder ----------------------------------------------------------------------------------


async def test_returns_the_models_vector(budgeted: Callable[..., BudgetedEmbedder]) -> None:
    model = SleepyModel(0.01, vector=unit(0.0, 1.0))
    embedder = budgeted(model, budget_s=2.0)
    assert embedder.name == "sleepy"
    vector = await embedder.embed("hello")
    assert vector is not None
    np.testing.assert_array_equal(vector, unit(0.0, 1.0))
    assert model.texts == ["hello"]
    counters = embedder.counters
    assert (counters.calls, counters.over_budget, counters.refused_busy, counters.errors) == (1, 0, 0, 0)
    assert counters.seconds >= 0.01


async def test_text_is_cut_to_max_embed_chars(budgeted: Callable[..., BudgetedEmbedder]) -> None:
    model = SleepyModel(0.0)
    embedder = budgeted(model, budget_s=2.0)
    assert await embedder.embed("x" * (MAX_EMBED_CHARS + 500)) is not None
    assert [len(text) for text in model.texts] == [MAX_EMBED_CHARS]


async def test_over_budget_is_none_and_counted(budgeted: Callable[..., BudgetedEmbedder]) -> None:
    model = SleepyModel(0.3)
    embedder = budgeted(model, budget_s=0.05)
    started = time.perf_counter()
    assert await embedder.embed("slow") is None
    assert time.perf_counter() - started < 0.25  # the caller does not wait for the thread
    assert embedder.counters.over_budget == 1
    assert embedder.counters.calls == 1
    assert embedder.counters.errors == 0
    await settle(embedder)  # the abandoned call still finishes, and frees its slot
    model.delay_s = 0.0
    assert await embedder.embed("fast") is not None
    assert embedder.counters.over_budget == 1


async def test_over_budget_call_that_then_fails_is_not_reported(
    budgeted: Callable[..., BudgetedEmbedder], caplog: pytest.LogCaptureFixture
) -> None:
    embedder = budgeted(SleepyModel(0.1, error=RuntimeError("late")), budget_s=0.01)
    assert await embedder.embed("x") is None
    await settle(embedder)
    await asyncio.sleep(0.01)
    assert embedder.counters.errors == 0
    assert "never retrieved" not in caplog.text


async def test_max_in_flight_refuses_at_once(budgeted: Callable[..., BudgetedEmbedder]) -> None:
    model = SleepyModel(0.2)
    embedder = budgeted(model, budget_s=2.0, workers=2, max_in_flight=1)
    first = asyncio.create_task(embedder.embed("first"))
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    assert await embedder.embed("second") is None
    assert time.perf_counter() - started < 0.05
    assert embedder.counters.refused_busy == 1
    assert embedder.counters.calls == 1
    assert await first is not None
    assert model.texts == ["first"]
    assert await embedder.embed("third") is not None  # the slot is free again
    assert embedder.counters.refused_busy == 1


async def test_sibling_has_its_own_budget_slots_and_threads(
    budgeted: Callable[..., BudgetedEmbedder],
) -> None:
    """The store path's sibling shares the model, not the lookups' budget, slots, threads or counters."""
    model = SleepyModel(0.2)
    lookups = budgeted(model, budget_s=0.1, workers=1, max_in_flight=1)
    stores = lookups.sibling(budget_s=2.0, max_in_flight=1)
    try:
        assert stores.name == lookups.name
        stored = asyncio.create_task(stores.embed("stored"))
        await asyncio.sleep(0.02)  # running in the sibling's thread
        assert await stores.embed("refused") is None  # the sibling's own cap
        assert stores.counters.refused_busy == 1
        model.delay_s = 0.0
        assert await lookups.embed("lookup") is not None  # its slot and thread are free
        assert (lookups.counters.calls, lookups.counters.refused_busy) == (1, 0)
        assert await stored is not None  # 0.2 s: within the sibling's budget, over the lookups'
        assert (stores.counters.calls, stores.counters.over_budget) == (1, 0)
        assert sorted(model.texts) == ["lookup", "stored"]
    finally:
        await settle(stores)
        await stores.aclose()
    assert await lookups.embed("after") is not None  # closing the sibling leaves the lookups' open


async def test_abandoned_calls_still_count_as_in_flight(budgeted: Callable[..., BudgetedEmbedder]) -> None:
    """A model stuck past the budget keeps its slot: later calls are refused, not queued behind it."""
    embedder = budgeted(SleepyModel(0.2), budget_s=0.01, max_in_flight=1)
    assert await embedder.embed("a") is None
    assert await embedder.embed("b") is None
    assert embedder.counters.over_budget == 1
    assert embedder.counters.refused_busy == 1


async def test_model_error_is_none_and_counted(
    budgeted: Callable[..., BudgetedEmbedder], caplog: pytest.LogCaptureFixture
) -> None:
    embedder = budgeted(SleepyModel(0.0, error=RuntimeError("onnx exploded")), budget_s=2.0)
    assert await embedder.embed("x") is None
    assert embedder.counters.errors == 1
    assert embedder.counters.over_budget == 0
    assert "embedding failed" in caplog.text
    await settle(embedder)
    assert await embedder.embed("y") is None
    assert embedder.counters.errors == 2


async def test_embedding_does_not_block_the_event_loop(budgeted: Callable[..., BudgetedEmbedder]) -> None:
    embedder = budgeted(SleepyModel(0.2), budget_s=2.0)
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    assert await embedder.embed("blocking model") is not None
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    assert elapsed >= 0.2
    during = [t for t in ticks if started <= t <= started + elapsed]
    assert len(during) >= 10
    gaps = np.diff(ticks)
    assert gaps.max() < 0.05, f"the event loop stalled for {gaps.max() * 1000:.0f} ms"


# -- RemoteEmbedder ------------------------------------------------------------------------------------

Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)


@pytest.fixture
async def remote() -> AsyncIterator[Callable[..., RemoteEmbedder]]:
    made: list[RemoteEmbedder] = []

    def make(handler: Handler, *, budget_s: float = 1.0, api_key: str | None = "sk-emb") -> RemoteEmbedder:
        embedder = RemoteEmbedder(
            "http://embedder.test/v1/",
            model="text-embedding-3-small",
            budget_s=budget_s,
            api_key=api_key,
            transport=httpx.MockTransport(handler),
        )
        made.append(embedder)
        return embedder

    yield make
    for embedder in made:
        await embedder.aclose()


def embedding_response(values: object) -> httpx.Response:
    return httpx.Response(200, json={"object": "list", "data": [{"index": 0, "embedding": values}]})


async def test_remote_normalizes_to_unit_length(remote: Callable[..., RemoteEmbedder]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return embedding_response([3.0, 4.0, 0.0])

    embedder = remote(handler)
    assert embedder.name == "remote:text-embedding-3-small"
    vector = await embedder.embed("y" * (MAX_EMBED_CHARS + 1))
    assert vector is not None
    assert vector.dtype == np.float32
    np.testing.assert_allclose(vector, [0.6, 0.8, 0.0], rtol=1e-6)
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-6)
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == "http://embedder.test/v1/embeddings"
    assert request.headers["authorization"] == "Bearer sk-emb"
    assert orjson.loads(request.content) == {
        "model": "text-embedding-3-small",
        "input": "y" * MAX_EMBED_CHARS,
    }
    assert embedder.counters.calls == 1
    assert embedder.counters.errors == 0


async def test_remote_without_key_sends_no_authorization(remote: Callable[..., RemoteEmbedder]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return embedding_response([1.0])

    assert await remote(handler, api_key=None).embed("x") is not None
    assert "authorization" not in seen[0].headers


async def test_remote_timeout_is_none(remote: Callable[..., RemoteEmbedder]) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1.0)
        return embedding_response([1.0])

    embedder = remote(handler, budget_s=0.05)
    started = time.perf_counter()
    assert await embedder.embed("x") is None
    assert time.perf_counter() - started < 0.5
    assert embedder.counters.over_budget == 1
    assert embedder.counters.errors == 0


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json={"error": {"message": "boom"}}),
        httpx.Response(429, json={"error": {"message": "slow down"}}),
        httpx.Response(200, content=b"not json{"),
        httpx.Response(200, json={"data": []}),
        httpx.Response(200, json={"nothing": 1}),
        httpx.Response(200, json=["a", "list"]),
        httpx.Response(200, json={"data": [{"embedding": "abc"}]}),
    ],
    ids=["500", "429", "malformed-json", "empty-data", "no-data", "list", "string-embedding"],
)
async def test_remote_bad_response_is_none(
    remote: Callable[..., RemoteEmbedder], response: httpx.Response, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = remote(lambda _request: response)
    assert await embedder.embed("x") is None
    assert embedder.counters.errors == 1
    assert embedder.counters.over_budget == 0
    assert "remote embedding failed" in caplog.text


async def test_remote_connection_error_is_none(remote: Callable[..., RemoteEmbedder]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    embedder = remote(handler)
    assert await embedder.embed("x") is None
    assert embedder.counters.errors == 1


@pytest.mark.parametrize(
    "embedding",
    [b"[0.0, 0.0]", b"[]", b"[1.0, 1e999]", b"[1.0, null]"],
    ids=["zero", "empty", "infinite", "null"],
)
async def test_remote_unusable_vector_is_none(
    remote: Callable[..., RemoteEmbedder], embedding: bytes
) -> None:
    content = b'{"data": [{"embedding": ' + embedding + b"}]}"
    embedder = remote(lambda _request: httpx.Response(200, content=content))
    assert await embedder.embed("x") is None

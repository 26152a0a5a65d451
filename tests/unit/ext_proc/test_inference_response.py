"""Inference response phases, driven by real ProcessingRequests: body modes, rate-limit headers, usage
read from JSON and SSE bodies, and exactly one `finish` per admitted request however the stream ends."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from control_plane.model import RequestOutcome
from ext_proc.governance.contracts import RequestResult
from ext_proc.server import StreamSession
from tests.support.governance_fakes import (
    RATE_LIMIT_HEADERS,
    RESERVED_COST_PICO,
    FakeBilling,
    FakeGate,
    FixedClock,
)

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]
HI_TOKENS = 8
SSE = "text/event-stream; charset=utf-8"
BACKEND = {"x-tollway-backend": "b1"}

EVENTS = (
    b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":"Hello"}}]}\n\n',
    b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,'
    b'"delta":{"content":" world"}}]}\n\n',
    b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},'
    b'"finish_reason":"stop"}]}\n\n',
)  # fmt: skip
USAGE_EVENT = (
    b'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":11,'
    b'"completion_tokens":2,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":4}}}\n\n'
)
DONE = b"data: [DONE]\n\n"
UPSTREAM_STREAM = b"".join(EVENTS) + USAGE_EVENT + DONE
STREAM_USAGE = {"prompt_tokens": 11, "completion_tokens": 2, "cached_tokens": 4}

NONE_MODE, STREAMED_MODE = 0, 1  # envoy ProcessingMode.BodySendMode


async def _admit(
    session: StreamSession, driver, body: dict[str, Any] | None = None, *, key: str = "tw-acme"
) -> None:
    await driver.answer(session, driver.request_headers("POST", CHAT, key=key))
    response = await driver.answer(session, driver.request_body(body or {"model": "mini", "messages": HI}))
    assert response.WhichOneof("response") == "request_body"


async def _admit_stream(session: StreamSession, driver, *, include_usage: bool = False) -> None:
    body: dict[str, Any] = {"model": "mini", "messages": HI, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    await _admit(session, driver, body)
    await driver.answer(session, driver.response_headers(200, SSE, extra=BACKEND))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *cuts, len(data)]
    return [data[start:end] for start, end in pairwise(edges)]


async def _feed(session: StreamSession, driver, chunks: list[bytes], *, end: bool = True) -> bytes:
    """Send `chunks` as STREAMED response body messages; return what the client receives."""
    received = b""
    for index, chunk in enumerate(chunks):
        last = end and index == len(chunks) - 1
        response = await driver.answer(session, driver.response_body(chunk, end_of_stream=last))
        assert response.WhichOneof("response") == "response_body"
        common = response.response_body.response
        received += common.body_mutation.body if common.HasField("body_mutation") else chunk
    return received


def _result(clock: FixedClock, outcome: RequestOutcome, **fields: Any) -> RequestResult:
    values: dict[str, Any] = {"status_code": 200, "backend": "b1", "finished_at": clock()} | fields
    return RequestResult(outcome=outcome, **values)


# -- response headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 429, 500, 503, 199, 302])
async def test_error_status_wants_no_body_and_is_billed_once(
    session: StreamSession, driver, billing: FakeBilling, gate: FakeGate, clock: FixedClock, status: int
) -> None:
    await _admit(session, driver)
    clock.advance(1.5)
    response = await driver.answer(session, driver.response_headers(status, extra=BACKEND))
    assert response.WhichOneof("response") == "response_headers"
    mutation = response.response_headers.response.header_mutation
    assert driver.set_headers(mutation, with_action=False) == dict(RATE_LIMIT_HEADERS)
    assert list(mutation.remove_headers) == ["x-tollway-backend"]
    assert response.HasField("mode_override")
    assert response.mode_override.response_body_mode == NONE_MODE
    await session.close()
    assert billing.results == [
        _result(clock, RequestOutcome.UPSTREAM_ERROR, status_code=status, error_code=f"upstream_{status}")
    ]
    [(admission, _)] = billing.finished
    assert admission.request == gate.requests[0]
    assert admission.reserved_cost_pico == RESERVED_COST_PICO


@pytest.mark.parametrize("content_type", ["text/event-stream", SSE])
async def test_event_stream_is_streamed_without_length_or_backend(
    session: StreamSession, driver, billing: FakeBilling, content_type: str
) -> None:
    await _admit(session, driver, {"model": "mini", "messages": HI, "stream": True})
    extra = {**BACKEND, "content-length": "999", "x-tollway-other": "x", "cache-control": "no-cache"}
    response = await driver.answer(session, driver.response_headers(200, content_type, extra=extra))
    mutation = response.response_headers.response.header_mutation
    assert sorted(mutation.remove_headers) == ["content-length", "x-tollway-backend", "x-tollway-other"]
    assert driver.set_headers(mutation, with_action=False) == dict(RATE_LIMIT_HEADERS)
    assert response.mode_override.response_body_mode == STREAMED_MODE
    assert billing.finished == []


async def test_json_is_streamed_with_its_length_and_rate_limit_headers(
    session: StreamSession, driver, billing: FakeBilling
) -> None:
    await _admit(session, driver)
    extra = {**BACKEND, "content-length": "120"}
    response = await driver.answer(session, driver.response_headers(201, "application/json", extra=extra))
    mutation = response.response_headers.response.header_mutation
    assert list(mutation.remove_headers) == ["x-tollway-backend"]
    assert driver.set_headers(mutation) == {name: (value, 2) for name, value in RATE_LIMIT_HEADERS}
    assert response.mode_override.response_body_mode == STREAMED_MODE  # never BUFFERED (see response_usage)
    assert billing.finished == []


async def test_without_rate_limit_headers_only_the_backend_is_removed(
    session: StreamSession, driver, gate: FakeGate
) -> None:
    gate.rate_limit_headers = ()
    await _admit(session, driver)
    response = await driver.answer(session, driver.response_headers(200, extra=BACKEND))
    mutation = response.response_headers.response.header_mutation
    assert list(mutation.set_headers) == []
    assert list(mutation.remove_headers) == ["x-tollway-backend"]


# -- JSON response bodies ------------------------------------------------------------------------------


def _completion(usage: dict[str, Any] | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello world"}}],
    }
    if usage is not None:
        document["usage"] = usage
    return document


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            {"prompt_tokens": 17, "completion_tokens": 5, "total_tokens": 22},
            {"prompt_tokens": 17, "completion_tokens": 5, "cached_tokens": 0, "estimated": False},
        ),
        (
            {"prompt_tokens": 17, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 9}},
            {"prompt_tokens": 17, "completion_tokens": 5, "cached_tokens": 9, "estimated": False},
        ),
        (
            {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0, "estimated": False},
        ),
        (
            None,  # no usage: the prompt estimate and the tokens of "Hello world"
            {"prompt_tokens": HI_TOKENS, "completion_tokens": 2, "cached_tokens": 0, "estimated": True},
        ),
    ],
)
async def test_json_body_is_billed_once_from_its_usage(
    session: StreamSession,
    driver,
    billing: FakeBilling,
    clock: FixedClock,
    usage: dict[str, Any] | None,
    expected: dict[str, Any],
) -> None:
    await _admit(session, driver)
    await driver.answer(session, driver.response_headers(200, extra=BACKEND))
    clock.advance(3)
    response = await driver.answer(session, driver.response_body(_completion(usage)))
    assert response.WhichOneof("response") == "response_body"
    assert response.response_body.ListFields() == []  # the body goes to the client unchanged
    await session.close()
    await session.close()
    assert billing.results == [_result(clock, RequestOutcome.OK, **expected)]
    assert billing.rejected == []


async def test_json_body_that_is_not_json_is_billed_as_estimated(
    session: StreamSession, driver, billing: FakeBilling, clock: FixedClock
) -> None:
    await _admit(session, driver)
    await driver.answer(session, driver.response_headers(200, "application/json"))
    await driver.answer(session, driver.response_body(b"<html>oops</html>"))
    assert billing.results == [
        _result(
            clock, RequestOutcome.OK, backend="", prompt_tokens=HI_TOKENS, completion_tokens=0, estimated=True
        )
    ]


# -- SSE response bodies -------------------------------------------------------------------------------

CUTS = [
    pytest.param([], id="one-chunk"),
    pytest.param([1, len(EVENTS[0]) - 1, len(EVENTS[0]) + 7], id="inside-event-ends"),
    pytest.param(
        [len(b"".join(EVENTS)) + 5, len(b"".join(EVENTS)) + len(USAGE_EVENT) - 1, len(UPSTREAM_STREAM) - 4],
        id="inside-usage-and-done",
    ),
    pytest.param([len(b"".join(EVENTS)), len(b"".join(EVENTS)) + len(USAGE_EVENT)], id="on-event-edges"),
    pytest.param(list(range(1, len(UPSTREAM_STREAM))), id="byte-by-byte"),
]


@pytest.mark.parametrize("cuts", CUTS)
async def test_injected_usage_chunk_is_removed_and_billed(
    session: StreamSession, driver, billing: FakeBilling, clock: FixedClock, cuts: list[int]
) -> None:
    await _admit_stream(session, driver)
    received = await _feed(session, driver, _split(UPSTREAM_STREAM, cuts))
    assert received == b"".join(EVENTS) + DONE
    await session.close()
    assert billing.results == [_result(clock, RequestOutcome.OK, **STREAM_USAGE)]


async def test_empty_last_chunk_ends_the_stream(
    session: StreamSession, driver, billing: FakeBilling, clock: FixedClock
) -> None:
    await _admit_stream(session, driver)
    received = await _feed(session, driver, [UPSTREAM_STREAM[:-1], UPSTREAM_STREAM[-1:]], end=False)
    assert received == b"".join(EVENTS) + DONE
    assert billing.finished == []
    assert await _feed(session, driver, [b""]) == b""
    assert billing.results == [_result(clock, RequestOutcome.OK, **STREAM_USAGE)]


async def test_a_stream_closed_after_done_without_end_of_stream_is_complete(
    session: StreamSession, driver, billing: FakeBilling, clock: FixedClock
) -> None:
    """Envoy may close the side stream before ext_proc sees the final end-of-stream message."""
    await _admit_stream(session, driver)
    await _feed(session, driver, [UPSTREAM_STREAM], end=False)
    await session.close()
    assert billing.results == [_result(clock, RequestOutcome.OK, **STREAM_USAGE)]


@pytest.mark.parametrize("cuts", CUTS)
async def test_usage_the_client_asked_for_is_kept(
    session: StreamSession, driver, billing: FakeBilling, clock: FixedClock, cuts: list[int]
) -> None:
    await _admit_stream(session, driver, include_usage=True)
    chunks = _split(UPSTREAM_STREAM, cuts)
    for chunk in chunks[:-1]:
        response = await driver.answer(session, driver.response_body(chunk, end_of_stream=False))
        assert response.response_body.ListFields() == []  # passed on untouched, as it came
    await _feed(session, driver, chunks[-1:])
    assert billing.results == [_result(clock, RequestOutcome.OK, **STREAM_USAGE)]


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        pytest.param(
            EVENTS[0] + EVENTS[1],
            {"prompt_tokens": HI_TOKENS, "completion_tokens": 2, "estimated": True},
            id="no-usage-no-done",
        ),
        pytest.param(
            EVENTS[0] + EVENTS[1] + b'data: {"id":"c1","choi',
            {"prompt_tokens": HI_TOKENS, "completion_tokens": 2, "estimated": True},
            id="cut-inside-an-event",
        ),
        pytest.param(b"".join(EVENTS) + USAGE_EVENT, STREAM_USAGE, id="usage-but-no-done"),
        pytest.param(
            EVENTS[0] + b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n' + DONE,
            {"prompt_tokens": HI_TOKENS, "completion_tokens": 1, "estimated": True},
            id="error-event",
        ),
    ],
)
async def test_stream_ending_without_done_is_upstream_cut(
    session: StreamSession,
    driver,
    billing: FakeBilling,
    clock: FixedClock,
    stream: bytes,
    expected: dict[str, Any],
) -> None:
    await _admit_stream(session, driver)
    received = await _feed(session, driver, _split(stream, [3, len(stream) // 2]))
    assert received == stream.replace(USAGE_EVENT, b"")
    await session.close()
    assert billing.results == [_result(clock, RequestOutcome.UPSTREAM_CUT, **expected)]


async def test_stream_closed_early_is_billed_once_as_incomplete(
    session: StreamSession, driver, billing: FakeBilling, clock: FixedClock
) -> None:
    await _admit_stream(session, driver)
    sent = EVENTS[0] + EVENTS[1] + EVENTS[2][:10]
    assert (
        await _feed(session, driver, _split(sent, [7, len(EVENTS[0]) + 3]), end=False)
        == EVENTS[0] + EVENTS[1]
    )
    assert billing.finished == []
    clock.advance(4)
    await session.close()
    await session.close()
    assert billing.results == [
        _result(
            clock,
            RequestOutcome.INCOMPLETE,
            prompt_tokens=HI_TOKENS,
            completion_tokens=2,
            estimated=True,
        )
    ]
    assert billing.results[0].completion_tokens >= 2  # "Hello" + " world" reached the client


async def test_stream_closed_after_the_usage_chunk_bills_the_usage(
    session: StreamSession, driver, billing: FakeBilling, clock: FixedClock
) -> None:
    await _admit_stream(session, driver)
    await _feed(session, driver, [b"".join(EVENTS) + USAGE_EVENT], end=False)
    await session.close()
    assert billing.results == [_result(clock, RequestOutcome.INCOMPLETE, **STREAM_USAGE)]


async def test_close_after_a_normal_finish_adds_nothing(
    session: StreamSession, driver, billing: FakeBilling
) -> None:
    await _admit_stream(session, driver)
    await _feed(session, driver, [UPSTREAM_STREAM])
    assert len(billing.finished) == 1
    await session.close()
    assert len(billing.finished) == 1


async def test_close_before_the_response_is_billed_from_the_estimate(
    session: StreamSession, driver, billing: FakeBilling, clock: FixedClock
) -> None:
    await _admit(session, driver)
    await session.close()
    assert billing.results == [
        _result(
            clock,
            RequestOutcome.INCOMPLETE,
            status_code=0,
            backend="",
            prompt_tokens=HI_TOKENS,
            estimated=True,
        )
    ]


async def test_close_while_a_json_body_is_awaited_is_billed_from_the_estimate(
    session: StreamSession, driver, billing: FakeBilling, clock: FixedClock
) -> None:
    await _admit(session, driver)
    await driver.answer(session, driver.response_headers(200, extra=BACKEND))
    await session.close()
    assert billing.results == [
        _result(clock, RequestOutcome.INCOMPLETE, prompt_tokens=HI_TOKENS, estimated=True)
    ]

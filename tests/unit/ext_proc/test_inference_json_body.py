"""Non-stream JSON response bodies as Envoy STREAMs them to the inference processor: billed once, at
the last chunk, from the whole body under the cap and from the usage at its edges past it."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from control_plane.model import RequestOutcome
from ext_proc.governance.contracts import RequestResult
from ext_proc.processors import openai_processors
from ext_proc.server import StreamSession
from ext_proc.services import GatewayServices
from tests.support.governance_fakes import FakeBilling, FixedClock

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]
HI_TOKENS = 8
BACKEND = {"x-tollway-backend": "b1"}
CAP = 1024


def _completion(usage: dict[str, Any] | None, words: int = 2) -> bytes:
    document: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "word " * words}}],
    }
    if usage is not None:
        document["usage"] = usage
    return orjson.dumps(document)


def _ok(clock: FixedClock, **fields: Any) -> RequestResult:
    values: dict[str, Any] = {"status_code": 200, "backend": "b1", "finished_at": clock()} | fields
    return RequestResult(outcome=RequestOutcome.OK, **values)


async def _send(session: StreamSession, driver, body: bytes, pieces: int, billing: FakeBilling) -> None:
    await driver.answer(session, driver.request_headers("POST", CHAT, key="tw-acme"))
    await driver.answer(session, driver.request_body({"model": "mini", "messages": HI}))
    await driver.answer(session, driver.response_headers(200, extra=BACKEND))
    step = -(-len(body) // pieces)
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    for chunk in chunks[:-1]:
        response = await driver.answer(session, driver.response_body(chunk, end_of_stream=False))
        assert response.response_body.ListFields() == []  # passed on unchanged
        assert billing.finished == []
    await driver.answer(session, driver.response_body(chunks[-1]))


@pytest.mark.parametrize("pieces", [1, 2, 7, 40])
async def test_a_body_in_chunks_is_read_whole(
    session: StreamSession, driver, billing: FakeBilling, clock: FixedClock, pieces: int
) -> None:
    await _send(session, driver, _completion({"prompt_tokens": 17, "completion_tokens": 5}), pieces, billing)
    assert billing.results == [_ok(clock, prompt_tokens=17, completion_tokens=5, cached_tokens=0)]


async def test_a_body_past_the_cap_is_billed_from_its_top_level_usage(
    services: GatewayServices, driver, billing: FakeBilling, clock: FixedClock
) -> None:
    session = StreamSession(openai_processors(dataclasses.replace(services, max_json_response_bytes=CAP)))
    body = _completion({"prompt_tokens": 17, "completion_tokens": 50_000}, words=50_000)
    await _send(session, driver, body, 16, billing)
    assert billing.results == [_ok(clock, prompt_tokens=17, completion_tokens=50_000, cached_tokens=0)]


async def test_a_body_past_the_cap_without_usage_is_estimated_from_its_size(
    services: GatewayServices, driver, billing: FakeBilling, clock: FixedClock
) -> None:
    session = StreamSession(openai_processors(dataclasses.replace(services, max_json_response_bytes=CAP)))
    body = _completion(None, words=50_000)
    await _send(session, driver, body, 16, billing)
    estimated = len(body) // 4  # never 0: more than the 50,000 words' tokens
    assert estimated > 50_000
    assert billing.results == [
        _ok(clock, prompt_tokens=HI_TOKENS, completion_tokens=estimated, cached_tokens=0, estimated=True)
    ]


async def _admit_json(session: StreamSession, driver, body: bytes, *, content_length: bool) -> None:
    await driver.answer(session, driver.request_headers("POST", CHAT, key="tw-acme"))
    await driver.answer(session, driver.request_body({"model": "mini", "messages": HI}))
    extra = {**BACKEND, "content-length": str(len(body))} if content_length else BACKEND
    await driver.answer(session, driver.response_headers(200, extra=extra))


async def test_a_body_is_billed_at_its_content_length_without_waiting_for_end_of_stream(
    session: StreamSession, driver, billing: FakeBilling, clock: FixedClock
) -> None:
    """Envoy may close the side stream before ext_proc answers its final empty end-of-stream message."""
    body = _completion({"prompt_tokens": 17, "completion_tokens": 5})
    await _admit_json(session, driver, body, content_length=True)
    await driver.answer(session, driver.response_body(body[:10], end_of_stream=False))
    assert billing.finished == []
    await driver.answer(session, driver.response_body(body[10:], end_of_stream=False))
    assert billing.results == [_ok(clock, prompt_tokens=17, completion_tokens=5, cached_tokens=0)]
    await driver.answer(session, driver.response_body(b""))  # the end-of-stream message, if it comes
    await session.close()
    assert len(billing.results) == 1


@pytest.mark.parametrize(("cut", "outcome"), [(0, RequestOutcome.OK), (1, RequestOutcome.INCOMPLETE)])
async def test_without_a_length_a_body_that_parses_whole_at_close_is_complete(
    session: StreamSession, driver, billing: FakeBilling, cut: int, outcome: RequestOutcome
) -> None:
    body = _completion({"prompt_tokens": 17, "completion_tokens": 5})
    await _admit_json(session, driver, body, content_length=False)
    await driver.answer(session, driver.response_body(body[: len(body) - cut], end_of_stream=False))
    assert billing.finished == []
    await session.close()
    [result] = billing.results
    assert result.outcome is outcome
    assert result.estimated is (outcome is RequestOutcome.INCOMPLETE)

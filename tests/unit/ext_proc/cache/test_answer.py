"""Answers: read from upstream JSON or SSE (complete answers only), replayed as JSON or SSE that the
official OpenAI SDK parses."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import openai
import orjson
import pytest

from ext_proc.cache.answer import (
    MAX_ANSWER_CHARS,
    SseAnswerAssembler,
    answer_from_response,
    render_json,
    render_sse,
)
from ext_proc.cache.contracts import CachedAnswer

ANSWER = CachedAnswer(
    content="Bonjour 👋 — naïve café! " * 10 + "🇫🇷 end",
    model="gpt-4o-mini-2024-07-18",
    prompt_tokens=12,
    completion_tokens=34,
    system_fingerprint="fp_abc123",
)
PLAIN = CachedAnswer(content="4", model="llama", prompt_tokens=5, completion_tokens=1)


def _events(body: bytes) -> list[bytes]:
    assert body.endswith(b"\n\n")
    events = body.split(b"\n\n")[:-1]
    for event in events:
        assert event.startswith(b"data: ")
        assert b"\n" not in event
    return [event[len(b"data: ") :] for event in events]


def _client(body: bytes, content_type: str, seen: list[httpx.Request]) -> openai.OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    return openai.OpenAI(
        api_key="x",
        base_url="http://test/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


MESSAGES: Any = [{"role": "user", "content": "Say hello"}]


# -- rendering ------------------------------------------------------------------------------------


def test_render_json_shape() -> None:
    document = orjson.loads(render_json(ANSWER, request_id="req1", created=1700000000))
    assert document == {
        "id": "chatcmpl-req1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": ANSWER.model,
        "system_fingerprint": "fp_abc123",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER.content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46},
    }
    assert "system_fingerprint" not in orjson.loads(render_json(PLAIN, request_id="r", created=1))


def test_render_json_round_trip() -> None:
    for answer in (ANSWER, PLAIN):
        assert answer_from_response(orjson.loads(render_json(answer, request_id="r", created=1))) == answer


@pytest.mark.parametrize("include_usage", [True, False])
def test_render_sse_shape(include_usage: bool) -> None:
    body = render_sse(
        ANSWER, request_id="req1", created=1700000000, include_usage=include_usage, chunk_chars=16
    )
    payloads = _events(body)
    assert payloads[-1] == b"[DONE]"
    chunks = [orjson.loads(payload) for payload in payloads[:-1]]
    for chunk in chunks:
        assert chunk["id"] == "chatcmpl-req1"
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["created"] == 1700000000
        assert chunk["model"] == ANSWER.model
        assert chunk["system_fingerprint"] == "fp_abc123"
        assert ("usage" in chunk) is include_usage
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    if include_usage:
        *chunks, usage_chunk = chunks
        assert usage_chunk["choices"] == []
        assert usage_chunk["usage"] == {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}
        assert all(chunk["usage"] is None for chunk in chunks)
    *chunks, finish = chunks
    assert finish["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
    pieces = [chunk["choices"][0]["delta"]["content"] for chunk in chunks[1:]]
    assert all(0 < len(piece) <= 16 for piece in pieces)
    assert "".join(pieces) == ANSWER.content
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in chunks)


@pytest.mark.parametrize("chunk_chars", [1, 3, 64, 10_000])
def test_render_sse_round_trip(chunk_chars: int) -> None:
    for answer in (ANSWER, PLAIN):
        body = render_sse(answer, request_id="r", created=1, include_usage=True, chunk_chars=chunk_chars)
        assembler = SseAnswerAssembler()
        for payload in _events(body)[:-1]:
            assembler.feed(orjson.loads(payload))
        assert assembler.finish(done=True, error=False) == answer


def test_render_sse_never_splits_a_character() -> None:
    answer = CachedAnswer(content="é😀" * 50, model="m", prompt_tokens=1, completion_tokens=1)
    body = render_sse(answer, request_id="r", created=1, include_usage=False, chunk_chars=3)
    body.decode("utf-8")  # every event is valid UTF-8 on its own
    for payload in _events(body)[1:-2]:
        piece = orjson.loads(payload)["choices"][0]["delta"]["content"]
        assert piece.encode("utf-8").decode("utf-8") == piece
        assert len(piece) <= 3


def test_render_sse_rejects_empty_chunks() -> None:
    with pytest.raises(ValueError, match="chunk_chars"):
        render_sse(PLAIN, request_id="r", created=1, include_usage=False, chunk_chars=0)


# -- the official SDK parses both renderings -----------------------------------------------------


@pytest.mark.parametrize("include_usage", [True, False])
def test_openai_sdk_parses_the_stream(include_usage: bool) -> None:
    seen: list[httpx.Request] = []
    body = render_sse(
        ANSWER, request_id="req1", created=1700000000, include_usage=include_usage, chunk_chars=7
    )
    client = _client(body, "text/event-stream", seen)
    options: Any = {"include_usage": True} if include_usage else openai.NOT_GIVEN
    chunks = list(
        client.chat.completions.create(model="mini", messages=MESSAGES, stream=True, stream_options=options)
    )
    assert len(seen) == 1
    assert all(chunk.id == "chatcmpl-req1" and chunk.model == ANSWER.model for chunk in chunks)
    content = "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)
    assert content == ANSWER.content
    finishes = [choice.finish_reason for chunk in chunks for choice in chunk.choices if choice.finish_reason]
    assert finishes == ["stop"]
    assert chunks[0].choices[0].delta.role == "assistant"
    if include_usage:
        last = chunks[-1]
        assert last.choices == []
        assert last.usage is not None
        assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (
            12,
            34,
            46,
        )
        assert all(chunk.usage is None for chunk in chunks[:-1])
    else:
        assert all(chunk.usage is None for chunk in chunks)
        assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_sdk_parses_the_json() -> None:
    seen: list[httpx.Request] = []
    client = _client(render_json(ANSWER, request_id="req1", created=1700000000), "application/json", seen)
    completion = client.chat.completions.create(model="mini", messages=MESSAGES)
    assert len(seen) == 1
    assert orjson.loads(seen[0].content)["model"] == "mini"
    assert completion.id == "chatcmpl-req1"
    assert completion.model == ANSWER.model
    assert completion.system_fingerprint == "fp_abc123"
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert (choice.message.role, choice.message.content, choice.finish_reason) == (
        "assistant",
        ANSWER.content,
        "stop",
    )
    assert choice.message.refusal is None
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 34)
    assert completion.usage.total_tokens == 46


# -- non-stream responses -------------------------------------------------------------------------


def _completion() -> dict[str, Any]:
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!", "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 2,
            "total_tokens": 11,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }


def test_answer_from_response() -> None:
    assert answer_from_response(_completion()) == CachedAnswer(
        content="Hello!",
        model="gpt-4o-mini-2024-07-18",
        prompt_tokens=9,
        completion_tokens=2,
        system_fingerprint="fp_1",
    )


def test_vllm_style_empty_tool_calls_are_fine() -> None:
    document = _completion()
    document["choices"][0]["message"]["tool_calls"] = []
    document["choices"][0]["message"]["reasoning_content"] = None
    del document["system_fingerprint"]
    answer = answer_from_response(document)
    assert answer is not None
    assert answer.system_fingerprint is None


def _edit(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(document: dict[str, Any]) -> None:
        holder: Any = document
        for step in path[:-1]:
            holder = holder[step]
        if value is _DELETE:
            del holder[path[-1]]
        else:
            holder[path[-1]] = value

    return apply


_DELETE = object()
_MESSAGE = ("choices", 0, "message")
_CALL = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]

UNSTORABLE_RESPONSES = {
    "length": _edit(("choices", 0, "finish_reason"), "length"),
    "content_filter": _edit(("choices", 0, "finish_reason"), "content_filter"),
    "tool_calls": _edit((*_MESSAGE, "tool_calls"), _CALL),
    "function_call": _edit((*_MESSAGE, "function_call"), {"name": "f", "arguments": "{}"}),
    "empty content": _edit((*_MESSAGE, "content"), ""),
    "null content": _edit((*_MESSAGE, "content"), None),
    "audio": _edit((*_MESSAGE, "audio"), {"id": "a", "data": "..."}),
    "two choices": lambda d: d["choices"].append(copy.deepcopy(d["choices"][0]) | {"index": 1}),
    "no choices": _edit(("choices",), []),
    "no usage": _edit(("usage",), _DELETE),
    "usage without completion tokens": _edit(("usage", "completion_tokens"), _DELETE),
    "usage with a float": _edit(("usage", "prompt_tokens"), 9.5),
    "no model": _edit(("model",), _DELETE),
    "another object": _edit(("object",), "text_completion"),
}


@pytest.mark.parametrize("change", UNSTORABLE_RESPONSES.values(), ids=UNSTORABLE_RESPONSES.keys())
def test_unstorable_responses(change: Callable[[dict[str, Any]], None]) -> None:
    document = _completion()
    change(document)
    assert answer_from_response(document) is None


def test_error_body_is_not_stored() -> None:
    assert answer_from_response({"error": {"message": "boom", "type": "server_error"}}) is None


# -- streamed responses ---------------------------------------------------------------------------


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "system_fingerprint": "fp_1",
        "choices": choices,
        **extra,
    }


def _delta(delta: dict[str, Any], finish_reason: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _upstream(finish_reason: str = "stop") -> list[dict[str, Any]]:
    """What OpenAI streams with `stream_options.include_usage`."""
    return [
        _chunk([_delta({"role": "assistant", "content": "", "refusal": None})], usage=None),
        _chunk([_delta({"content": "Hel"})], usage=None),
        _chunk([_delta({"content": "lo"})], usage=None),
        _chunk([_delta({"content": " world"})], usage=None),
        _chunk([_delta({}, finish_reason)], usage=None),
        _chunk(
            [],
            usage={
                "prompt_tokens": 9,
                "completion_tokens": 3,
                "total_tokens": 12,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            },
        ),
    ]


def _wire(chunks: list[dict[str, Any]], *, done: bool = True) -> bytes:
    body = b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


def _assemble(body: bytes, **kwargs: Any) -> CachedAnswer | None:
    """Parse a raw SSE body like the gateway does and assemble it."""
    assembler = SseAnswerAssembler(**kwargs)
    done = False
    for event in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        payload = b"\n".join(line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:"))
        if not payload:
            continue
        if payload == b"[DONE]":
            done = True
            continue
        assembler.feed(orjson.loads(payload))
    return assembler.finish(done=done, error=False)


EXPECTED = CachedAnswer(
    content="Hello world",
    model="gpt-4o-mini-2024-07-18",
    prompt_tokens=9,
    completion_tokens=3,
    system_fingerprint="fp_1",
)


def test_assemble_upstream_stream() -> None:
    assert _assemble(_wire(_upstream())) == EXPECTED


def test_assemble_vllm_style_stream() -> None:
    """vLLM: no `usage: null` keys, `tool_calls: []` never sent, usage on the final chunk, CRLF-free."""
    chunks = [
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "llama", "choices": [c]}
        for c in (
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            },
            {"index": 0, "delta": {"content": "4"}, "logprobs": None, "finish_reason": None},
            {
                "index": 0,
                "delta": {"content": ""},
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
            },
        )
    ]
    chunks.append(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "llama",
            "choices": [],
            "usage": {"prompt_tokens": 5, "total_tokens": 6, "completion_tokens": 1},
        }
    )
    assert _assemble(_wire(chunks)) == PLAIN


def test_the_sse_renderer_round_trips_through_the_parser() -> None:
    assert _assemble(render_sse(ANSWER, request_id="r", created=1, include_usage=True)) == ANSWER


def test_finish_flags() -> None:
    assembler = SseAnswerAssembler()
    for chunk in _upstream():
        assembler.feed(chunk)
    assert assembler.finish(done=False, error=False) is None
    assert assembler.finish(done=True, error=True) is None
    assert assembler.finish(done=True, error=False) == EXPECTED


UNSTORABLE_STREAMS: dict[str, Callable[[], bytes]] = {
    "length": lambda: _wire(_upstream("length")),
    "missing [DONE]": lambda: _wire(_upstream(), done=False),
    "missing usage": lambda: _wire(_upstream()[:-1]),
    "missing finish": lambda: _wire(_upstream()[:4] + _upstream()[5:]),
    "error event": lambda: _wire(
        [*_upstream()[:3], {"error": {"message": "overloaded", "type": "server_error"}}, *_upstream()[3:]]
    ),
    "two choices": lambda: _wire(
        [*_upstream()[:2], _chunk([_delta({"content": "Other"}, index=1)]), *_upstream()[2:]]
    ),
    "two choices in one chunk": lambda: _wire(
        [
            *_upstream()[:2],
            _chunk([_delta({"content": "a"}), _delta({"content": "b"}, index=1)]),
            *_upstream()[2:],
        ]
    ),
    "tool calls": lambda: _wire(
        [
            _chunk([_delta({"role": "assistant", "content": None})]),
            _chunk(
                [
                    _delta(
                        {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": "call_1",
                                    "type": "function",
                                    "function": {"name": "f", "arguments": ""},
                                }
                            ]
                        }
                    )
                ]
            ),
            _chunk([_delta({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})]),
            _chunk([_delta({}, "stop")]),
            _upstream()[-1],
        ]
    ),
    "text then tool calls": lambda: _wire(
        [
            *_upstream()[:3],
            _chunk([_delta({"tool_calls": [{"index": 0, "id": "c", "function": {}}]})]),
            *_upstream()[3:],
        ]
    ),
    "no content": lambda: _wire([_upstream()[0], _upstream()[4], _upstream()[5]]),
    "no chunks": lambda: b"data: [DONE]\n\n",
}


@pytest.mark.parametrize("body", UNSTORABLE_STREAMS.values(), ids=UNSTORABLE_STREAMS.keys())
def test_unstorable_streams(body: Callable[[], bytes]) -> None:
    assert _assemble(body()) is None


def test_error_flag_from_the_caller() -> None:
    assembler = SseAnswerAssembler()
    for chunk in _upstream():
        assembler.feed(chunk)
    assert assembler.finish(done=True, error=True) is None


def test_content_cap() -> None:
    assert _assemble(_wire(_upstream()), max_chars=11) == EXPECTED
    assert _assemble(_wire(_upstream()), max_chars=10) is None


def test_refusal_counts_toward_the_stream_cap() -> None:
    chunks = _upstream()
    chunks.insert(4, _chunk([_delta({"refusal": "No."})], usage=None))
    assert _assemble(_wire(chunks), max_chars=14) == replace(EXPECTED, refusal="No.")
    assert _assemble(_wire(chunks), max_chars=13) is None


def test_answer_from_response_has_the_streams_cap() -> None:
    """One cap for both wire forms: a non-stream answer over `MAX_ANSWER_CHARS` is not stored either."""
    for size, stored in ((MAX_ANSWER_CHARS, True), (MAX_ANSWER_CHARS + 1, False)):
        chunks = _upstream()
        chunks[1] = _chunk([_delta({"content": "x" * (size - len("lo world"))})], usage=None)
        assert (_assemble(_wire(chunks)) is not None) is stored
    document = _completion()
    document["choices"][0]["message"]["content"] = "x" * MAX_ANSWER_CHARS
    answer = answer_from_response(document)
    assert answer is not None
    assert len(answer.content) == MAX_ANSWER_CHARS
    document["choices"][0]["message"]["content"] = "x" * (MAX_ANSWER_CHARS + 1)
    assert answer_from_response(document) is None
    document["choices"][0]["message"]["content"] = "Hello!"
    document["choices"][0]["message"]["refusal"] = "No."
    assert answer_from_response(document, max_chars=9) is not None
    assert answer_from_response(document, max_chars=8) is None

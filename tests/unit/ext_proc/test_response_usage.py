"""Usage from JSON bodies and SSE streams, whatever the chunking; the injected usage chunk is removed."""

from __future__ import annotations

import orjson
import pytest

from ext_proc.response_usage import SseUsageReader, Usage, usage_from_json_body
from ext_proc.token_count import TokenCounter


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


def _event(document: object) -> bytes:
    return b"data: " + orjson.dumps(document) + b"\n\n"


DELTA = _event({"choices": [{"index": 0, "delta": {"content": "hello world"}}]})
USAGE = _event(
    {
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 3}},
    }
)
DONE = b"data: [DONE]\n\n"
STREAM = DELTA + DELTA + USAGE + DONE


def _feed(reader: SseUsageReader, data: bytes, size: int) -> bytes:
    out = []
    for start in range(0, len(data), size):
        replacement = reader.feed(data[start : start + size], end_of_stream=start + size >= len(data))
        out.append(data[start : start + size] if replacement is None else replacement)
    return b"".join(out)


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
def test_usage_done_and_delivered_tokens_whatever_the_chunking(counter: TokenCounter, size: int) -> None:
    reader = SseUsageReader(counter, strip_usage_chunk=False)
    assert _feed(reader, STREAM, size) == STREAM
    assert reader.usage == Usage(7, 2, 3)
    assert reader.done
    assert reader.delivered_tokens == 4
    assert not reader.error_event


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
def test_injected_usage_chunk_is_removed_and_nothing_else(counter: TokenCounter, size: int) -> None:
    reader = SseUsageReader(counter, strip_usage_chunk=True)
    assert _feed(reader, STREAM, size) == DELTA + DELTA + DONE
    assert reader.usage == Usage(7, 2, 3)


def test_a_cut_stream_has_no_done_and_counts_what_was_delivered(counter: TokenCounter) -> None:
    reader = SseUsageReader(counter, strip_usage_chunk=False)
    _feed(reader, DELTA + DELTA[:10], 5)
    assert not reader.done
    assert reader.usage is None
    assert reader.delivered_tokens == 2


def test_error_events_and_crlf_are_understood(counter: TokenCounter) -> None:
    reader = SseUsageReader(counter, strip_usage_chunk=False)
    reader.feed(DELTA.replace(b"\n", b"\r\n") + _event({"error": {"message": "x"}}), end_of_stream=True)
    assert reader.error_event
    assert reader.delivered_tokens == 2


def test_json_body_usage_keeps_explicit_zeros() -> None:
    body = orjson.dumps({"choices": [], "usage": {"prompt_tokens": 0, "completion_tokens": 0}})
    usage, document = usage_from_json_body(body)
    assert usage == Usage(0, 0, 0)
    assert document is not None
    assert usage_from_json_body(b"not json") == (None, None)
    assert usage_from_json_body(b'{"choices": []}')[0] is None

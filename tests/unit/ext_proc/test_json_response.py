"""JsonBodyReader and top_level_usage: whole bodies, bodies past the cap, and usage found only at the
top level of a document known by its edges."""

from __future__ import annotations

import orjson
import pytest

from ext_proc.json_response import JsonBodyReader, top_level_usage
from ext_proc.response_usage import Usage

REAL = {"prompt_tokens": 17, "completion_tokens": 50_000, "prompt_tokens_details": {"cached_tokens": 4}}
REAL_USAGE = Usage(17, 50_000, 4)


def _document(**fields: object) -> bytes:
    return orjson.dumps({"id": "c1", "choices": [{"message": {"content": "word " * 1000}}], **fields})


def _read(body: bytes, *, max_bytes: int, chunk: int = 4096) -> JsonBodyReader:
    reader = JsonBodyReader(max_bytes=max_bytes)
    for start in range(0, len(body), chunk):
        reader.feed(body[start : start + chunk])
    return reader


def test_a_body_under_the_cap_is_kept_whole() -> None:
    body = _document(usage=REAL)
    reader = _read(body, max_bytes=len(body))
    usage, document = reader.finish()
    assert (usage, reader.overflowed, reader.size) == (REAL_USAGE, False, len(body))
    assert document == orjson.loads(body)


def test_a_body_past_the_cap_keeps_only_its_usage() -> None:
    body = _document(usage=REAL, system_fingerprint="fp")
    reader = _read(body, max_bytes=1000)
    assert reader.finish() == (REAL_USAGE, None)
    assert reader.overflowed
    assert reader.estimated_tokens == len(body) // 4


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_document(usage=REAL, x_meta={"usage": {"prompt_tokens": 0}}), id="nested-after"),
        pytest.param(
            _document(usage=REAL, prompt_logprobs=[{"1": {"decoded_token": "usage"}}]),
            id="string-value-after",
        ),
        pytest.param(orjson.dumps({"usage": REAL, "choices": [{"text": "x " * 900_000}]}), id="usage-first"),
        pytest.param(_document(usage=REAL, prompt_token_ids=list(range(400_000))), id="long-field-after"),
        pytest.param(
            _document(usage=REAL, note='a "usage": {"prompt_tokens": 1} in a string, and } { braces'),
            id="braces-in-strings",
        ),
    ],
)
def test_only_the_top_level_usage_counts(body: bytes) -> None:
    assert _read(body, max_bytes=1000, chunk=65_536).finish() == (REAL_USAGE, None)


def test_no_top_level_usage_is_none() -> None:
    for body in (
        _document(),
        _document(x_meta={"usage": {"prompt_tokens": 3, "completion_tokens": 4}}),
        _document(usage="none"),
    ):
        assert _read(body, max_bytes=1000).finish() == (None, None)


def test_top_level_usage_from_edges() -> None:
    body = orjson.dumps({"a": [1, {"b": "}"}], "usage": {"prompt_tokens": 2, "completion_tokens": 3}})
    assert top_level_usage(b"", body) == Usage(2, 3)
    assert top_level_usage(body, b"") == Usage(2, 3)
    assert top_level_usage(body[:20], body[-10:]) is None  # the object is cut on both sides

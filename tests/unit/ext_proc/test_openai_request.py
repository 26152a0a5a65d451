"""Reading inference requests: model, stream, output bound; the upstream body changes only when needed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ext_proc.errors import InvalidJsonError, InvalidParameterError, ModelRequiredError
from ext_proc.openai_request import InferenceEndpoint, parse_json_object, read_request
from ext_proc.token_count import TokenCounter

CHAT = InferenceEndpoint.CHAT_COMPLETIONS


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hello world"}], **fields}


def test_plain_request_is_sent_unchanged(counter: TokenCounter) -> None:
    request = read_request(_chat(max_tokens=10), CHAT, counter, output_cap=None)
    assert (request.model, request.stream, request.prompt_tokens) == ("m", False, 9)
    assert request.max_output_tokens == 10
    assert request.upstream_body is None
    assert not request.usage_injected


def test_stream_without_usage_gets_include_usage_and_keeps_other_options(counter: TokenCounter) -> None:
    request = read_request(
        _chat(stream=True, stream_options={"continuous_usage_stats": False}), CHAT, counter, output_cap=None
    )
    assert request.usage_injected
    assert request.upstream_body is not None
    sent = orjson.loads(request.upstream_body)
    assert sent["stream_options"] == {"continuous_usage_stats": False, "include_usage": True}
    assert sent["messages"] == _chat()["messages"]


def test_stream_that_asked_for_usage_is_unchanged(counter: TokenCounter) -> None:
    request = read_request(
        _chat(stream=True, stream_options={"include_usage": True}), CHAT, counter, output_cap=None
    )
    assert request.upstream_body is None
    assert not request.usage_injected


def test_plan_cap_is_injected_when_missing_and_enforced_when_exceeded(counter: TokenCounter) -> None:
    request = read_request(_chat(n=2), CHAT, counter, output_cap=100)
    assert request.upstream_body is not None
    assert orjson.loads(request.upstream_body)["max_tokens"] == 100
    assert request.max_output_tokens == 200  # two choices
    kept = read_request(_chat(max_completion_tokens=50), CHAT, counter, output_cap=100)
    assert kept.upstream_body is None
    assert kept.max_output_tokens == 50
    with pytest.raises(InvalidParameterError) as refused:
        read_request(_chat(max_completion_tokens=101), CHAT, counter, output_cap=100)
    assert refused.value.param == "max_completion_tokens"


@pytest.mark.parametrize("bad", [0, -1, "10", True, 1.5])
def test_invalid_max_tokens_is_a_400_naming_the_parameter(counter: TokenCounter, bad: object) -> None:
    with pytest.raises(InvalidParameterError) as refused:
        read_request(_chat(max_tokens=bad), CHAT, counter, output_cap=None)
    assert refused.value.param == "max_tokens"
    assert refused.value.status == 400


def test_embeddings_produce_no_output(counter: TokenCounter) -> None:
    request = read_request(
        {"model": "e", "input": ["hello world", "hello"]}, InferenceEndpoint.EMBEDDINGS, counter, output_cap=5
    )
    assert (request.prompt_tokens, request.max_output_tokens, request.upstream_body) == (3, 0, None)


def test_unbounded_request_has_no_output_bound(counter: TokenCounter) -> None:
    assert read_request(_chat(), CHAT, counter, output_cap=None).max_output_tokens is None


def test_body_errors() -> None:
    with pytest.raises(InvalidJsonError):
        parse_json_object(b"[1]")
    with pytest.raises(InvalidJsonError):
        parse_json_object(b"{")
    with pytest.raises(ModelRequiredError):
        read_request({"messages": []}, CHAT, TokenCounter(), output_cap=None)

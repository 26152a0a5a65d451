"""What the gateway reads from, and changes in, an OpenAI inference request body.

Read: the model, whether it streams, how many output tokens it may produce (`max_completion_tokens`
or `max_tokens`, times `n` choices), its prompt size. Changed, only when needed:
- a streaming request that did not ask for usage gets `stream_options.include_usage: true`, so the
  upstream reports usage at the end of the stream (the gateway removes that extra chunk again);
- with a plan cap (`max_output_tokens`) a request without a max gets `max_tokens` set to the cap;
  one asking for more than the cap is refused (400), as OpenAI refuses a max above a model's limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from ext_proc.errors import InvalidJsonError, InvalidParameterError, ModelRequiredError
from ext_proc.token_count import TokenCounter

__all__ = [
    "InferenceEndpoint",
    "InferenceRequest",
    "parse_json_object",
    "read_request",
    "requested_model",
]


class InferenceEndpoint(StrEnum):
    """The OpenAI endpoints whose JSON body names a model; the value is the path."""

    CHAT_COMPLETIONS = "/v1/chat/completions"
    COMPLETIONS = "/v1/completions"
    EMBEDDINGS = "/v1/embeddings"


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or InvalidJsonError."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidJsonError() from None
    if not isinstance(document, dict):
        raise InvalidJsonError()
    return document


def requested_model(document: dict[str, Any]) -> str:
    """The non-empty `model` string of a request, or ModelRequiredError."""
    model = document.get("model")
    if not isinstance(model, str) or not model:
        raise ModelRequiredError()
    return model


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    """One parsed request and the body to send upstream (None: send the client's body unchanged)."""

    model: str
    stream: bool
    prompt_tokens: int
    max_output_tokens: int | None
    """The most output the request can produce (all choices), None when unbounded."""
    usage_injected: bool
    """The gateway asked the upstream for a usage chunk the client did not ask for."""
    upstream_body: bytes | None


def _positive_int(document: dict[str, Any], name: str) -> int | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidParameterError(f"`{name}` must be a positive integer.", param=name)
    return value


def read_request(
    document: dict[str, Any],
    endpoint: InferenceEndpoint,
    counter: TokenCounter,
    *,
    output_cap: int | None,
) -> InferenceRequest:
    """Read `document` (already a JSON object) and decide the body to send upstream."""
    model = requested_model(document)
    if endpoint is InferenceEndpoint.EMBEDDINGS:
        return InferenceRequest(model, False, counter.embeddings(document), 0, False, None)
    stream = document.get("stream") is True
    prompt_tokens = (
        counter.chat(document)
        if endpoint is InferenceEndpoint.CHAT_COMPLETIONS
        else counter.completion(document)
    )
    changes: dict[str, Any] = {}
    max_field = "max_completion_tokens" if "max_completion_tokens" in document else "max_tokens"
    requested_max = _positive_int(document, max_field)
    choices = _positive_int(document, "n") or 1
    if output_cap is not None:
        if requested_max is None:
            changes[max_field] = requested_max = output_cap
        elif requested_max > output_cap:
            raise InvalidParameterError(
                f"`{max_field}` is too large: {requested_max}. This key's plan allows at most "
                f"{output_cap} output tokens per request.",
                param=max_field,
            )
    usage_injected = False
    if stream:
        options = document.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise InvalidParameterError("`stream_options` must be an object.", param="stream_options")
        if (options or {}).get("include_usage") is not True:
            changes["stream_options"] = {**(options or {}), "include_usage": True}
            usage_injected = True
    body = orjson.dumps({**document, **changes}) if changes else None
    max_output = requested_max * choices if requested_max is not None else None
    return InferenceRequest(model, stream, prompt_tokens, max_output, usage_injected, body)

"""Deterministic answers in OpenAI's wire shapes: request parsing, echo replies, chunks, embeddings."""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import struct
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "EmbeddingRequest",
    "Endpoint",
    "Prompt",
    "Reply",
    "RequestError",
    "UsageMode",
    "embeddings_body",
    "error_body",
    "models_body",
    "parse_embedding_request",
    "parse_prompt",
]

JSON = dict[str, Any]

_DEFAULT_DIMENSIONS = 8
_MAX_DIMENSIONS = 4096
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class RequestError(ValueError):
    """The request body is not a valid OpenAI request; answered with 400."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class UsageMode(StrEnum):
    """What a generated reply says about its token usage (`x-mock-usage`)."""

    REPORT = "report"
    """The real counts (the default)."""
    OMIT = "omit"
    """No usage anywhere: no `usage` in the JSON body, no usage chunk or `usage: null` in a stream."""
    ZERO = "zero"
    """A usage object whose counts are all zero."""


class Endpoint(StrEnum):
    """The two generating endpoints; they differ only in their JSON shapes."""

    CHAT = "chat"
    COMPLETION = "completion"


@dataclass(frozen=True, slots=True)
class Prompt:
    """What the mock needs from a chat or completion request."""

    endpoint: Endpoint
    model: str
    echo: str
    prompt_tokens: int
    stream: bool
    include_usage: bool
    max_tokens: int | None


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """What the mock needs from an embeddings request."""

    model: str
    inputs: list[str]
    dimensions: int
    base64: bool


def parse_prompt(endpoint: Endpoint, body: object) -> Prompt:
    """Check a chat-completion or completion request body and keep what the reply depends on."""
    request = _object(body)
    if endpoint is Endpoint.CHAT:
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("'messages' must be a non-empty array", "messages")
        texts = [_message_text(message, index) for index, message in enumerate(messages)]
        users = [_content_text(m.get("content")) for m in messages if m.get("role") == "user"]
        echo = users[-1] if users else ""
    else:
        if "prompt" not in request:
            raise RequestError("'prompt' is required", "prompt")
        echo = _prompt_text(request["prompt"])
        texts = [echo]
    stream = request.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError("'stream' must be a boolean", "stream")
    options = request.get("stream_options") or {}
    if not isinstance(options, dict):
        raise RequestError("'stream_options' must be an object", "stream_options")
    max_tokens = request.get("max_completion_tokens", request.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)):
        raise RequestError("'max_tokens' must be an integer", "max_tokens")
    return Prompt(
        endpoint=endpoint,
        model=_model(request),
        echo=echo,
        prompt_tokens=sum(len(text.split()) for text in texts),
        stream=stream,
        include_usage=options.get("include_usage") is True,
        max_tokens=max_tokens,
    )


def parse_embedding_request(body: object) -> EmbeddingRequest:
    """Check an embeddings request body."""
    request = _object(body)
    raw = request.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(item, int) for item in raw):
        inputs = [_prompt_text(raw, "input")]
    elif isinstance(raw, list) and raw:
        inputs = [_prompt_text(item, "input") for item in raw]
    else:
        raise RequestError("'input' must be a string or a non-empty array", "input")
    dimensions = request.get("dimensions", _DEFAULT_DIMENSIONS)
    if (
        not isinstance(dimensions, int)
        or isinstance(dimensions, bool)
        or not 1 <= dimensions <= _MAX_DIMENSIONS
    ):
        raise RequestError(f"'dimensions' must be an integer from 1 to {_MAX_DIMENSIONS}", "dimensions")
    encoding = request.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise RequestError("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    return EmbeddingRequest(_model(request), inputs, dimensions, encoding == "base64")


@dataclass(frozen=True, slots=True)
class Reply:
    """One generated answer: its pieces (words, all but the first with a leading space) and metadata."""

    prompt: Prompt
    pieces: tuple[str, ...]
    finish_reason: str
    usage_mode: UsageMode = UsageMode.REPORT
    cached_tokens: int | None = None
    id: str = field(default_factory=lambda: secrets.token_hex(12))
    created: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    def build(
        cls,
        prompt: Prompt,
        server_name: str,
        tokens: int | None,
        usage_mode: UsageMode = UsageMode.REPORT,
        cached_tokens: int | None = None,
    ) -> Reply:
        """`[<server name>] echo: <prompt>` cut into words; `tokens` repeats or cuts them to that count.

        `cached_tokens` (when given) is reported as `usage.prompt_tokens_details.cached_tokens`.
        """
        words = f"[{server_name}] echo: {prompt.echo}".split()
        count = len(words) if tokens is None else tokens
        finish_reason = "stop"
        if prompt.max_tokens is not None and prompt.max_tokens < count:
            count, finish_reason = max(prompt.max_tokens, 0), "length"
        chosen = [words[index % len(words)] for index in range(count)]
        pieces = tuple(word if index == 0 else f" {word}" for index, word in enumerate(chosen))
        return cls(prompt, pieces, finish_reason, usage_mode, cached_tokens)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def usage(self) -> JSON | None:
        """The usage object this reply reports (None with `UsageMode.OMIT`)."""
        if self.usage_mode is UsageMode.OMIT:
            return None
        zero = self.usage_mode is UsageMode.ZERO
        prompt = 0 if zero else self.prompt.prompt_tokens
        completion = 0 if zero else len(self.pieces)
        usage: JSON = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if self.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": 0 if zero else self.cached_tokens}
        return usage

    @property
    def streams_usage(self) -> bool:
        """Whether a stream of this reply carries usage (asked with `stream_options.include_usage`)."""
        return self.prompt.include_usage and self.usage_mode is not UsageMode.OMIT

    def body(self) -> JSON:
        """The non-streamed answer."""
        if self.prompt.endpoint is Endpoint.CHAT:
            message = {"role": "assistant", "content": self.text, "refusal": None}
            choice: JSON = {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": self.finish_reason,
            }
        else:
            choice = {"index": 0, "text": self.text, "logprobs": None, "finish_reason": self.finish_reason}
        body = {**self._head(chunk=False), "choices": [choice]}
        usage = self.usage
        if usage is not None:
            body["usage"] = usage
        return body

    def role_chunk(self) -> JSON | None:
        """Chat streams open with the assistant role and empty content; completion streams do not."""
        if self.prompt.endpoint is Endpoint.COMPLETION:
            return None
        return self._chunk({"role": "assistant", "content": ""}, None)

    def content_chunk(self, piece: str) -> JSON:
        return self._chunk({"content": piece}, None)

    def finish_chunk(self) -> JSON:
        return self._chunk({}, self.finish_reason)

    def usage_chunk(self) -> JSON:
        """Sent last when `streams_usage`."""
        return {**self._head(chunk=True), "choices": [], "usage": self.usage}

    def _chunk(self, delta: dict[str, str], finish_reason: str | None) -> JSON:
        if self.prompt.endpoint is Endpoint.CHAT:
            choice: JSON = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        else:
            choice = {
                "index": 0,
                "text": delta.get("content", ""),
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        chunk = {**self._head(chunk=True), "choices": [choice]}
        if self.streams_usage:
            chunk["usage"] = None
        return chunk

    def _head(self, chunk: bool) -> JSON:
        if self.prompt.endpoint is Endpoint.CHAT:
            ident, kind = f"chatcmpl-{self.id}", "chat.completion.chunk" if chunk else "chat.completion"
        else:
            ident, kind = f"cmpl-{self.id}", "text_completion"
        return {
            "id": ident,
            "object": kind,
            "created": self.created,
            "model": self.prompt.model,
            "system_fingerprint": "fp_mock",
        }


def embeddings_body(request: EmbeddingRequest) -> JSON:
    """A unit vector per input, derived from a hash of the input text only."""
    data: list[JSON] = []
    for index, text in enumerate(request.inputs):
        vector = _vector(text, request.dimensions)
        encoded: list[float] | str = vector
        if request.base64:
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(len(text.split()) for text in request.inputs)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": request.model, "usage": usage}


def models_body(models: list[str], owner: str) -> JSON:
    """The `GET /v1/models` listing."""
    data = [{"id": model, "object": "model", "created": 0, "owned_by": owner} for model in models]
    return {"object": "list", "data": data}


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> JSON:
    """OpenAI's error envelope."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _vector(text: str, dimensions: int) -> list[float]:
    digest = hashlib.shake_256(text.encode()).digest(2 * dimensions)
    raw = [int.from_bytes(digest[i : i + 2], "little") / 32767.5 - 1.0 for i in range(0, len(digest), 2)]
    norm = math.sqrt(sum(value * value for value in raw)) or 1.0
    return [round(value / norm, 6) for value in raw]


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    return body


def _model(request: dict[str, Any]) -> str:
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("'model' is required and must be a non-empty string", "model")
    return model


def _message_text(message: object, index: int) -> str:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise RequestError(f"messages[{index}] must be an object with a 'role'", f"messages[{index}]")
    return _content_text(message.get("content"))


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, dict)]
        return " ".join(part for part in parts if isinstance(part, str))
    return ""


def _prompt_text(prompt: object, param: str = "prompt") -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(item, str | int) for item in prompt):
        return " ".join(str(item) for item in prompt)
    raise RequestError(f"'{param}' must be a string, an array of strings or of token ids", param)

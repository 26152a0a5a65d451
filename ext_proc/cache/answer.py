"""One canonical answer, read from either upstream wire form and replayed in either.

Only a complete, single, text-only answer is ever stored: exactly one choice, `finish_reason: stop`,
non-empty string content, no tool or function calls, no audio, the upstream's usage, and at most
`MAX_ANSWER_CHARS` characters of content and refusal (either wire form). A stream counts
only once it ended properly (`data: [DONE]`, no error event): an interrupted or truncated stream is never
stored. Whatever form the answer came in, `render_json` and `render_sse` produce what the OpenAI API
sends (a `chat.completion` object, or `chat.completion.chunk` events ending in `[DONE]`), so a
streaming client is never sent JSON and a non-streaming client never SSE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ext_proc.cache.contracts import CachedAnswer

__all__ = ["MAX_ANSWER_CHARS", "SseAnswerAssembler", "answer_from_response", "render_json", "render_sse"]

MAX_ANSWER_CHARS = 200_000
"""The longest answer (content plus refusal, in characters) that is stored, whichever wire form it came
in: a bigger one is not cached (it would cost Redis memory and hit-reply time for little reuse)."""

_DONE_EVENT = b"data: [DONE]\n\n"


def _token_count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usage(document: Mapping[str, Any]) -> tuple[int, int] | None:
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt = _token_count(usage.get("prompt_tokens"))
    completion = _token_count(usage.get("completion_tokens"))
    if prompt is None or completion is None:
        return None
    return prompt, completion


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _has_calls(holder: Mapping[str, Any]) -> bool:
    """A message or delta carries tool / function calls (vLLM sends `tool_calls: []` for none)."""
    return bool(holder.get("tool_calls")) or holder.get("function_call") is not None


def answer_from_response(
    document: dict[str, Any], *, max_chars: int = MAX_ANSWER_CHARS
) -> CachedAnswer | None:
    """The answer of a non-stream `chat.completion` response, or None when it must not be stored
    (including when its content and refusal are longer than `max_chars` together)."""
    if document.get("object", "chat.completion") != "chat.completion" or "error" in document:
        return None
    choices = document.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    message = choice.get("message")
    if choice.get("finish_reason") != "stop" or not isinstance(message, dict):
        return None
    content = message.get("content")
    if (
        not isinstance(content, str)
        or not content
        or message.get("role", "assistant") != "assistant"
        or _has_calls(message)
        or message.get("audio") is not None
    ):
        return None
    refusal = _optional_str(message.get("refusal"))
    if len(content) + len(refusal or "") > max_chars:
        return None
    model = document.get("model")
    usage = _usage(document)
    if not isinstance(model, str) or not model or usage is None:
        return None
    return CachedAnswer(
        content=content,
        model=model,
        prompt_tokens=usage[0],
        completion_tokens=usage[1],
        system_fingerprint=_optional_str(document.get("system_fingerprint")),
        refusal=refusal,
    )


class SseAnswerAssembler:
    """Collects the answer of one streamed response from its parsed `chat.completion.chunk` events;
    refuses it once its content and refusal exceed `max_chars` together (nothing more is kept)."""

    __slots__ = (
        "_content",
        "_error",
        "_finish_reason",
        "_length",
        "_max_chars",
        "_model",
        "_refusal",
        "_refused",
        "_system_fingerprint",
        "_usage",
    )

    def __init__(self, *, max_chars: int = MAX_ANSWER_CHARS) -> None:
        self._max_chars = max_chars
        self._content: list[str] = []
        self._length = 0
        self._refusal: list[str] = []
        self._model: str | None = None
        self._system_fingerprint: str | None = None
        self._finish_reason: object = None
        self._usage: tuple[int, int] | None = None
        self._error = False
        self._refused = False
        """Something seen makes the answer unstorable (another choice, calls, audio, too long)."""

    def feed(self, document: dict[str, Any]) -> None:
        """One parsed SSE event's JSON (not `[DONE]`)."""
        if self._refused or self._error:
            return
        if "error" in document:
            self._error = True
            return
        if document.get("object", "chat.completion.chunk") != "chat.completion.chunk":
            self._refused = True
            return
        if self._model is None:
            self._model = _optional_str(document.get("model"))
        fingerprint = _optional_str(document.get("system_fingerprint"))
        if fingerprint is not None:
            self._system_fingerprint = fingerprint
        usage = _usage(document)
        if usage is not None:
            self._usage = usage
        choices = document.get("choices")
        if choices is None:
            return
        if not isinstance(choices, list):
            self._refused = True
            return
        for choice in choices:
            self._feed_choice(choice)

    def _feed_choice(self, choice: object) -> None:
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            self._refused = True
            return
        delta = choice.get("delta")
        if isinstance(delta, dict):
            if _has_calls(delta) or delta.get("audio") is not None:
                self._refused = True
                return
            if delta.get("role", "assistant") not in ("assistant", None):
                self._refused = True
                return
            content = delta.get("content")
            if isinstance(content, str) and content:
                if not self._keep(len(content)):
                    return
                self._content.append(content)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                if not self._keep(len(refusal)):
                    return
                self._refusal.append(refusal)
        finish_reason = choice.get("finish_reason")
        if finish_reason is not None:
            self._finish_reason = finish_reason

    def _keep(self, chars: int) -> bool:
        """Count `chars` more; past `max_chars`, refuse the answer and drop what was collected."""
        self._length += chars
        if self._length <= self._max_chars:
            return True
        self._refused = True
        self._content.clear()
        self._refusal.clear()
        return False

    def finish(self, done: bool, error: bool) -> CachedAnswer | None:
        """The answer once the stream ended: `done` = `[DONE]` was seen, `error` = an error event was
        (either side may have noticed it). None when the answer must not be stored."""
        if not done or error or self._error or self._refused or self._finish_reason != "stop":
            return None
        if self._model is None or self._usage is None or not self._content:
            return None
        return CachedAnswer(
            content="".join(self._content),
            model=self._model,
            prompt_tokens=self._usage[0],
            completion_tokens=self._usage[1],
            system_fingerprint=self._system_fingerprint,
            refusal="".join(self._refusal) or None,
        )


def _usage_object(answer: CachedAnswer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def render_json(answer: CachedAnswer, *, request_id: str, created: int) -> bytes:
    """A complete `chat.completion` response body."""
    document: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created,
        "model": answer.model,
    }
    if answer.system_fingerprint is not None:
        document["system_fingerprint"] = answer.system_fingerprint
    document["choices"] = [
        {
            "index": 0,
            "message": {"role": "assistant", "content": answer.content, "refusal": answer.refusal},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    document["usage"] = _usage_object(answer)
    return orjson.dumps(document)


def render_sse(
    answer: CachedAnswer,
    *,
    request_id: str,
    created: int,
    include_usage: bool,
    chunk_chars: int = 64,
) -> bytes:
    """A complete SSE body: a role chunk, content chunks of at most `chunk_chars` characters, the
    finish chunk, the usage chunk (`choices: []`) when `include_usage`, then `data: [DONE]`."""
    if chunk_chars < 1:
        raise ValueError("chunk_chars must be at least 1")
    head: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": answer.model,
    }
    if answer.system_fingerprint is not None:
        head["system_fingerprint"] = answer.system_fingerprint

    def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        document = {**head, "choices": choices}
        if include_usage:
            document["usage"] = usage
        return b"data: " + orjson.dumps(document) + b"\n\n"

    def delta(fields: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": fields, "logprobs": None, "finish_reason": finish_reason}]

    events = [event(delta({"role": "assistant", "content": "", "refusal": None}))]
    content = answer.content
    events.extend(
        event(delta({"content": content[start : start + chunk_chars]}))
        for start in range(0, len(content), chunk_chars)
    )
    if answer.refusal is not None:
        events.append(event(delta({"refusal": answer.refusal})))
    events.append(event(delta({}, "stop")))
    if include_usage:
        events.append(event([], _usage_object(answer)))
    events.append(_DONE_EVENT)
    return b"".join(events)

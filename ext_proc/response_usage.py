"""Reading usage out of upstream responses: a whole JSON document, or an SSE stream chunk by chunk.

Both kinds arrive STREAMED (`ext_proc.json_response` collects a JSON body from its chunks).

Envoy hands STREAMED chunks as it read them: one chunk may hold many events, and an event may span
chunks. `SseUsageReader` keeps the unfinished tail and looks at complete events only. It finds the
usage chunk (`choices: []` plus `usage`), the `[DONE]` marker and error events, and estimates the
tokens delivered so far from the deltas, which bills a stream the client abandoned.

When the gateway asked for usage on the client's behalf (`strip_usage_chunk`), the reader also
removes that chunk from what the client receives: clients that did not ask for it would index
`choices[0]` of an empty list. It then returns complete events only (the tail waits for the next
chunk), and everything that is left at the end of the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ext_proc.token_count import TokenCounter

__all__ = [
    "SseUsageReader",
    "Usage",
    "output_text_tokens",
    "usage_from_document",
    "usage_from_json_body",
]

_EVENT_END = b"\n\n"
_DONE = b"[DONE]"


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage_from_document(document: object) -> Usage | None:
    """The `usage` object of a response (or chunk), if it has one. Explicit zeros stay zeros."""
    if not isinstance(document, dict):
        return None
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return Usage(_count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")), cached)


def usage_from_json_body(body: bytes) -> tuple[Usage | None, dict[str, Any] | None]:
    """(usage, the parsed document) of a whole JSON response; (None, None) if it is not a JSON object."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    return usage_from_document(document), document


def output_text_tokens(document: dict[str, Any], counter: TokenCounter) -> int:
    """Tokens of the generated text in a response or a chunk (message, delta, text, tool arguments)."""
    total = 0
    choices = document.get("choices")
    if not isinstance(choices, list):
        return 0
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        for holder in (choice.get("delta"), choice.get("message")):
            if isinstance(holder, dict):
                for key in ("content", "reasoning_content", "refusal"):
                    text = holder.get(key)
                    if isinstance(text, str) and text:
                        total += counter.text(text)
                calls = holder.get("tool_calls")
                if isinstance(calls, list):
                    for call in calls:
                        function = call.get("function") if isinstance(call, dict) else None
                        arguments = function.get("arguments") if isinstance(function, dict) else None
                        if isinstance(arguments, str) and arguments:
                            total += counter.text(arguments)
        text = choice.get("text")
        if isinstance(text, str) and text:
            total += counter.text(text)
    return total


class SseUsageReader:
    """Follows one SSE response; `feed` returns the bytes to send on (None: send the chunk unchanged)."""

    __slots__ = (
        "_counter",
        "_on_document",
        "_strip",
        "_tail",
        "delivered_tokens",
        "done",
        "error_event",
        "usage",
    )

    def __init__(
        self,
        counter: TokenCounter,
        *,
        strip_usage_chunk: bool,
        on_document: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._counter = counter
        self._on_document = on_document
        """Called with every chunk object that is not an error (the cache assembles answers from them)."""
        self._strip = strip_usage_chunk
        self._tail = b""
        self.usage: Usage | None = None
        self.done = False
        """`data: [DONE]` was seen: the upstream finished the stream properly."""
        self.error_event = False
        self.delivered_tokens = 0
        """Estimated tokens of the deltas seen so far (what a client may have received)."""

    def feed(self, chunk: bytes, *, end_of_stream: bool) -> bytes | None:
        data = self._tail + chunk if self._tail else chunk
        if b"\r\n" in data:
            data = data.replace(b"\r\n", b"\n")
        cut = data.rfind(_EVENT_END)
        complete, self._tail = (data[: cut + 2], data[cut + 2 :]) if cut != -1 else (b"", data)
        kept: list[bytes] = []
        for event in complete.split(_EVENT_END):
            if event and not (self._read_event(event) and self._strip):
                kept.append(event + _EVENT_END)
        if end_of_stream and self._tail:
            self._read_event(self._tail)
            kept.append(self._tail)
            self._tail = b""
        return b"".join(kept) if self._strip else None

    def _read_event(self, event: bytes) -> bool:
        """Read one event; True if it is the usage-only chunk."""
        payload = b"\n".join(
            line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")
        )
        if not payload:
            return False
        if payload.strip() == _DONE:
            self.done = True
            return False
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(document, dict):
            return False
        if "error" in document:
            self.error_event = True
            return False
        if self._on_document is not None:
            self._on_document(document)
        usage = usage_from_document(document)
        if usage is not None:
            self.usage = usage
        self.delivered_tokens += output_text_tokens(document, self._counter)
        return usage is not None and document.get("choices") == []

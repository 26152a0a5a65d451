"""The per-process cache of API keys, by secret sha-256: a bounded LRU with short-lived negative entries.

Invalidation is explicit (`evict` one hash, `clear` everything). Every invalidation bumps `generation`;
a lookup that read Redis stores its answer only if the generation did not move while it waited
(`put(..., generation=g)`), so a revoke that lands during a read can never be overwritten by the stale
value that read returned.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from control_plane.model import ApiKey

__all__ = ["CachedKey", "KeyCache"]


@dataclass(frozen=True, slots=True)
class CachedKey:
    """A cache entry: the key (None: known to be unknown) and, for unknown keys, when that stops holding."""

    key: ApiKey | None
    negative_until: float = 0.0
    """Monotonic time after which a negative entry is ignored."""


class KeyCache:
    """Bounded LRU of `CachedKey` by secret sha-256."""

    def __init__(
        self, *, max_entries: int, negative_ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[str, CachedKey] = OrderedDict()
        self._max_entries = max_entries
        self._negative_ttl_s = negative_ttl_s
        self._clock = clock
        self.generation = 0
        """Bumped by every eviction and clear."""

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, secret_hash: str) -> CachedKey | None:
        """The live entry for `secret_hash` (expired negative entries count as absent)."""
        entry = self._entries.get(secret_hash)
        if entry is None:
            return None
        if entry.key is None and entry.negative_until <= self._clock():
            del self._entries[secret_hash]
            return None
        self._entries.move_to_end(secret_hash)
        return entry

    def put(self, secret_hash: str, key: ApiKey | None, *, generation: int) -> None:
        """Remember `key` (None: unknown) unless an invalidation happened since `generation` was read."""
        if generation != self.generation:
            return
        until = 0.0 if key is not None else self._clock() + self._negative_ttl_s
        self._entries[secret_hash] = CachedKey(key=key, negative_until=until)
        self._entries.move_to_end(secret_hash)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def evict(self, secret_hash: str) -> None:
        self.generation += 1
        self._entries.pop(secret_hash, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

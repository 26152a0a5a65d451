"""`PartitionedVectorIndex`: this replica's view of the cached prompts' vectors, for the semantic layer.

Vectors are grouped by partition (`CacheRequest.partition`: a hash over the namespace, model, parameters,
system prompt and earlier turns) and a search only ever scans one partition: a vector in another
partition is never compared, however similar. Each partition is a small growable float32 matrix (rows are
unit vectors, so a search is one matrix-vector product, `similarity.cosine_scores`) with the entries' ids,
expiry times and generations alongside.

`search` runs on the event loop. That is fine because partitions are small by design — isolation *is*
the partition, so one partition holds the repeats of one conversation prefix of one tenant and model; a
scan of 1,000 384-d vectors takes tens of microseconds. The index is not meant for one huge partition.

The index is fed by `index_feed.IndexFollower` and may lag or miss events: it only proposes candidates,
which the caller re-reads from Redis (TTL, generation) before serving. Memory is bounded by
`max_vectors`: past it, the oldest-inserted vectors are evicted first. Expired vectors are skipped by
`search` and compacted out of the partition it scanned.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import numpy.typing as npt

from control_plane.cache_feed import EntryAdded
from ext_proc.cache.contracts import Vector
from ext_proc.cache.similarity import cosine_scores, vector_from_bytes

__all__ = ["PartitionedVectorIndex"]

_INITIAL_ROWS = 8


class _Partition:
    """The vectors of one partition: rows [0, size) of growable arrays; removal swaps in the last row."""

    __slots__ = ("expires", "generations", "ids", "matrix", "namespace", "rows", "size")

    def __init__(self, namespace: str, dimensions: int) -> None:
        self.namespace = namespace
        self.matrix: npt.NDArray[np.float32] = np.empty((_INITIAL_ROWS, dimensions), dtype=np.float32)
        self.expires: npt.NDArray[np.float64] = np.empty(_INITIAL_ROWS, dtype=np.float64)
        self.generations: npt.NDArray[np.int64] = np.empty(_INITIAL_ROWS, dtype=np.int64)
        self.ids: list[str] = []
        self.rows: dict[str, int] = {}
        self.size = 0

    def put(self, entry_id: str, vector: Vector, expires_at: float, generation: int) -> None:
        row = self.rows.get(entry_id)
        if row is None:
            if self.size == len(self.matrix):
                self._resize(2 * len(self.matrix))
            row = self.size
            self.size += 1
            self.ids.append(entry_id)
            self.rows[entry_id] = row
        self.matrix[row] = vector
        self.expires[row] = expires_at
        self.generations[row] = generation

    def remove(self, entry_id: str) -> None:
        row = self.rows.pop(entry_id)
        last = self.size - 1
        if row != last:
            moved = self.ids[last]
            self.matrix[row] = self.matrix[last]
            self.expires[row] = self.expires[last]
            self.generations[row] = self.generations[last]
            self.ids[row] = moved
            self.rows[moved] = row
        self.ids.pop()
        self.size = last
        if len(self.matrix) > _INITIAL_ROWS and self.size <= len(self.matrix) // 4:
            self._resize(max(_INITIAL_ROWS, len(self.matrix) // 2))

    def _resize(self, rows: int) -> None:
        size = self.size
        matrix = np.empty((rows, self.matrix.shape[1]), dtype=np.float32)
        matrix[:size] = self.matrix[:size]
        expires = np.empty(rows, dtype=np.float64)
        expires[:size] = self.expires[:size]
        generations = np.empty(rows, dtype=np.int64)
        generations[:size] = self.generations[:size]
        self.matrix, self.expires, self.generations = matrix, expires, generations


class PartitionedVectorIndex:
    """Unit vectors of cached prompts, searched within one partition (see the module doc)."""

    def __init__(self, *, dimensions: int, embedder: str, max_vectors: int = 200_000) -> None:
        if dimensions <= 0 or max_vectors <= 0:
            raise ValueError("dimensions and max_vectors must be positive")
        self.dimensions = dimensions
        self.embedder = embedder
        self.max_vectors = max_vectors
        self._partitions: dict[str, _Partition] = {}
        self._by_namespace: dict[str, set[str]] = {}
        self._order: OrderedDict[str, str] = OrderedDict()
        """entry id → partition, oldest-inserted first (entry ids are hashes over their partition)."""

    def __len__(self) -> int:
        return len(self._order)

    def holds(self, partition: str) -> bool:
        """Whether this replica has any vector of `partition` (none: a semantic lookup cannot hit)."""
        found = self._partitions.get(partition)
        return found is not None and found.size > 0

    def add(self, event: EntryAdded, *, now: float | None = None) -> bool:
        """Index the event's vector (replacing the entry's previous one); False if it was ignored: another
        embedder, a malformed vector or one of other dimensions, or (with `now`) already expired."""
        if event.embedder != self.embedder or (now is not None and event.expires_at <= now):
            return False
        try:
            vector = vector_from_bytes(event.vector, self.dimensions)
        except ValueError:
            return False
        previous = self._order.pop(event.entry_id, None)
        if previous is not None and previous != event.partition:
            self._remove(previous, event.entry_id)
        partition = self._partitions.get(event.partition)
        if partition is None:
            partition = self._partitions[event.partition] = _Partition(event.namespace, self.dimensions)
            self._by_namespace.setdefault(event.namespace, set()).add(event.partition)
        partition.put(event.entry_id, vector, event.expires_at, event.generation)
        self._order[event.entry_id] = event.partition
        while len(self._order) > self.max_vectors:
            entry_id, oldest = self._order.popitem(last=False)
            self._remove(oldest, entry_id)
        return True

    def search(
        self, partition: str, vector: Vector, *, threshold: float, limit: int = 3, now: float | None = None
    ) -> list[tuple[str, float]]:
        """Up to `limit` (entry id, cosine similarity) of the partition with similarity ≥ `threshold`,
        best first, skipping (and compacting out) vectors expired at `now` (default: the current time)."""
        found = self._partitions.get(partition)
        if found is None or limit <= 0 or vector.shape != (self.dimensions,):
            return []
        if now is None:
            now = time.time()
        size = found.size
        live = found.expires[:size] > now
        scores = cosine_scores(found.matrix[:size], vector.astype(np.float32, copy=False))
        candidates = np.flatnonzero((scores >= threshold) & live)
        if len(candidates) > limit:
            candidates = candidates[np.argpartition(-scores[candidates], limit - 1)[:limit]]
        best = candidates[np.argsort(-scores[candidates], kind="stable")]
        results = [(found.ids[row], float(scores[row])) for row in best]
        if not live.all():
            for row in np.flatnonzero(~live)[::-1]:  # descending: a removal moves only the last row
                self._remove(partition, found.ids[row])
        return results

    def drop_namespace(self, namespace: str, generation: int) -> None:
        """Drop the namespace's vectors of generations older than `generation` (the purged one's new)."""
        for name in list(self._by_namespace.get(namespace, ())):
            partition = self._partitions[name]
            stale = np.flatnonzero(partition.generations[: partition.size] < generation)
            for row in stale[::-1]:
                self._remove(name, partition.ids[row])

    def _remove(self, name: str, entry_id: str) -> None:
        """Remove an entry's vector from partition `name` (dropping the partition when it empties)."""
        if self._order.get(entry_id) == name:
            del self._order[entry_id]
        partition = self._partitions[name]
        partition.remove(entry_id)
        if partition.size == 0:
            del self._partitions[name]
            names = self._by_namespace[partition.namespace]
            names.discard(name)
            if not names:
                del self._by_namespace[partition.namespace]

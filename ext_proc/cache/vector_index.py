"""`PartitionedVectorIndex`: this replica's view of the cached prompts' vectors, for the semantic layer.

Vectors are grouped by partition (`CacheRequest.partition`: a hash over the namespace, model, parameters,
system prompt and earlier turns) and a search only ever scans one partition: a vector in another
partition is never compared, however similar. Each partition is a float32 matrix (rows are unit vectors,
so a search is one matrix-vector product, `similarity.cosine_scores`) with the entries' ids, expiry times,
generations and live flags alongside.

Bounds. A partition holds at most `max_partition_vectors` (default 20,000) live vectors: adding a new
entry to a full partition first evicts its expired vectors, then its oldest-inserted ones. The whole
index holds at most `max_vectors`: past it, the oldest-inserted vectors are evicted first, whatever their
partition. A search therefore scans at most about 1.5 times `max_partition_vectors` rows (live ones plus
removed ones not compacted out yet, see `partition_size`); 30,000 rows of 384 dimensions take a few
milliseconds, so the caller may want to run big searches off the event loop.

Threads. The writer methods (`add`, `drop_namespace`, `compact`) must all run on one thread (the event
loop). `search`, `holds` and `partition_size` may run on any thread concurrently with them: a search
works on a snapshot of the partition (`_View`) that the writer never changes in place, except for
flagging a row dead (a one-byte write: the search sees the row as it was just before or just after its
removal). New rows are written past the end of every published snapshot; anything else builds new arrays.
`search` never writes: it reports the partitions in which it saw expired vectors, and `compact` (called
by `index_feed.IndexFollower` after each read) removes them.

Removal. A removed vector's row is flagged dead; the partition's arrays are rebuilt without their dead
rows (one vectorised copy) once those outnumber the live ones or the arrays are full. Purges and
compaction select their rows with boolean masks: at most one rebuild per partition per call.

Purges. `drop_namespace(namespace, generation)` also remembers `generation` (the namespace's generation
after the purge): a later `EntryAdded` of an older generation is stale (written before the purge, its
event delivered after) and refused. One int per purged namespace, at most `_MAX_PURGED_NAMESPACES`.

The index is fed by `index_feed.IndexFollower` and may lag or miss events: it only proposes candidates,
which the caller re-reads from Redis (TTL, generation) before serving.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from control_plane.cache_feed import EntryAdded
from ext_proc.cache.contracts import Vector
from ext_proc.cache.similarity import cosine_scores, vector_from_bytes

__all__ = ["PartitionedVectorIndex"]

_INITIAL_ROWS = 8
_MAX_PURGED_NAMESPACES = 65_536
"""Namespaces whose last purged generation is remembered (the least recently purged are forgotten)."""
_MAX_EXPIRED_HINTS = 4096
"""Partitions reported by `search` as holding expired vectors, waiting for `compact`."""


class _View(NamedTuple):
    """A snapshot of a partition for `search`: rows [0, size) of its arrays at publication time."""

    matrix: npt.NDArray[np.float32]
    expires: npt.NDArray[np.float64]
    alive: npt.NDArray[np.bool_]
    ids: list[str]
    """Shared with the partition, which only appends to it: read indices < `size` only."""
    size: int


class _Partition:
    """The vectors of one partition: rows [0, size) of append-only arrays with spare capacity.

    `rows` maps each live entry id to its row, oldest-inserted first; a removed row stays in the arrays
    flagged dead (`alive` False) until `rebuild`. `view` is the snapshot a search reads.
    """

    __slots__ = ("alive", "expires", "generations", "ids", "matrix", "namespace", "rows", "size", "view")

    def __init__(self, namespace: str, dimensions: int) -> None:
        self.namespace = namespace
        self.matrix: npt.NDArray[np.float32] = np.empty((_INITIAL_ROWS, dimensions), dtype=np.float32)
        self.expires: npt.NDArray[np.float64] = np.empty(_INITIAL_ROWS, dtype=np.float64)
        self.generations: npt.NDArray[np.int64] = np.empty(_INITIAL_ROWS, dtype=np.int64)
        self.alive: npt.NDArray[np.bool_] = np.zeros(_INITIAL_ROWS, dtype=np.bool_)
        self.ids: list[str] = []
        self.rows: OrderedDict[str, int] = OrderedDict()
        self.size = 0
        self.view = self._snapshot()

    @property
    def dead(self) -> int:
        return self.size - len(self.rows)

    def put(self, entry_id: str, vector: Vector, expires_at: float, generation: int) -> None:
        """Append the entry's vector as its newest row (its previous row, if any, is flagged dead first)."""
        previous = self.rows.pop(entry_id, None)
        if previous is not None:
            self.alive[previous] = False
        if self.size == len(self.matrix):
            self.rebuild(spare=1)
        row = self.size
        self.matrix[row] = vector
        self.expires[row] = expires_at
        self.generations[row] = generation
        self.alive[row] = True
        self.ids.append(entry_id)
        self.rows[entry_id] = row
        self.size = row + 1
        self.view = self._snapshot()

    def kill(self, entry_id: str) -> None:
        """Flag the entry's row dead."""
        self.alive[self.rows.pop(entry_id)] = False

    def kill_where(self, mask: npt.NDArray[np.bool_]) -> list[str]:
        """Flag dead the live rows where `mask` (over rows [0, size)) holds; their entry ids."""
        rows = np.flatnonzero(mask & self.alive[: self.size])
        if not len(rows):
            return []
        ids = [self.ids[row] for row in rows]
        for entry_id in ids:
            del self.rows[entry_id]
        self.alive[rows] = False
        return ids

    def kill_oldest(self, count: int) -> list[str]:
        """Flag dead the `count` oldest-inserted live rows; their entry ids."""
        ids = []
        for _ in range(min(count, len(self.rows))):
            entry_id, row = self.rows.popitem(last=False)
            self.alive[row] = False
            ids.append(entry_id)
        return ids

    def expired(self, now: float) -> npt.NDArray[np.bool_]:
        """Rows [0, size) that are live and expired at `now`."""
        size = self.size
        expired: npt.NDArray[np.bool_] = self.alive[:size] & (self.expires[:size] <= now)
        return expired

    def rebuild(self, spare: int = 0) -> None:
        """Copy the live rows, oldest first, into new arrays with room for `spare` more and then some."""
        live = len(self.rows)
        capacity = max(_INITIAL_ROWS, live + spare + (live + spare) // 2)
        order = np.fromiter(self.rows.values(), dtype=np.intp, count=live)
        matrix = np.empty((capacity, self.matrix.shape[1]), dtype=np.float32)
        np.take(self.matrix, order, axis=0, out=matrix[:live])
        expires = np.empty(capacity, dtype=np.float64)
        np.take(self.expires, order, out=expires[:live])
        generations = np.empty(capacity, dtype=np.int64)
        np.take(self.generations, order, out=generations[:live])
        alive = np.zeros(capacity, dtype=np.bool_)
        alive[:live] = True
        self.ids = list(self.rows)
        self.rows = OrderedDict(zip(self.ids, range(live), strict=True))
        self.matrix, self.expires, self.generations, self.alive = matrix, expires, generations, alive
        self.size = live
        self.view = self._snapshot()

    def _snapshot(self) -> _View:
        size = self.size
        return _View(self.matrix[:size], self.expires[:size], self.alive[:size], self.ids, size)


class PartitionedVectorIndex:
    """Unit vectors of cached prompts, searched within one partition (see the module doc for the bounds,
    the threads allowed and purges)."""

    def __init__(
        self,
        *,
        dimensions: int,
        embedder: str,
        max_vectors: int = 200_000,
        max_partition_vectors: int = 20_000,
    ) -> None:
        if dimensions <= 0 or max_vectors <= 0 or max_partition_vectors <= 0:
            raise ValueError("dimensions, max_vectors and max_partition_vectors must be positive")
        self.dimensions = dimensions
        self.embedder = embedder
        self.max_vectors = max_vectors
        self.max_partition_vectors = max_partition_vectors
        self._partitions: dict[str, _Partition] = {}
        self._by_namespace: dict[str, set[str]] = {}
        self._order: OrderedDict[str, str] = OrderedDict()
        """entry id → partition, oldest-inserted first (entry ids are hashes over their partition)."""
        self._purged: OrderedDict[str, int] = OrderedDict()
        """namespace → its generation after its last purge, least recently purged first."""
        self._expired_seen: deque[str] = deque(maxlen=_MAX_EXPIRED_HINTS)
        """Partitions in which a search saw expired vectors (appended by `search`, drained by `compact`)."""

    def __len__(self) -> int:
        return len(self._order)

    def holds(self, partition: str) -> bool:
        """Whether this replica has any vector of `partition` (none: a semantic lookup cannot hit)."""
        found = self._partitions.get(partition)
        return found is not None and len(found.rows) > 0

    def partition_size(self, partition: str) -> int:
        """The rows a search of `partition` scans (its vectors and removed ones not compacted out yet)."""
        found = self._partitions.get(partition)
        return 0 if found is None else found.view.size

    def add(self, event: EntryAdded, *, now: float | None = None) -> bool:
        """Index the event's vector (replacing the entry's previous one); False if it was ignored: another
        embedder, a malformed vector or one of other dimensions, a generation older than the namespace's
        last purge, or (with `now`) already expired. A full partition makes room first (module doc)."""
        if event.embedder != self.embedder or (now is not None and event.expires_at <= now):
            return False
        purged = self._purged.get(event.namespace)
        if purged is not None and event.generation < purged:
            return False
        try:
            vector = vector_from_bytes(event.vector, self.dimensions)
        except ValueError:
            return False
        previous = self._order.pop(event.entry_id, None)
        if previous is not None and previous != event.partition:
            self._partitions[previous].kill(event.entry_id)
            self._settle(previous)
        partition = self._partitions.get(event.partition)
        if partition is None:
            partition = self._partitions[event.partition] = _Partition(event.namespace, self.dimensions)
            self._by_namespace.setdefault(event.namespace, set()).add(event.partition)
        elif event.entry_id not in partition.rows and len(partition.rows) >= self.max_partition_vectors:
            self._make_room(partition, time.time() if now is None else now)
        partition.put(event.entry_id, vector, event.expires_at, event.generation)
        self._order[event.entry_id] = event.partition
        if len(self._order) > self.max_vectors:
            self._evict_oldest()
        return True

    def search(
        self, partition: str, vector: Vector, *, threshold: float, limit: int = 3, now: float | None = None
    ) -> list[tuple[str, float]]:
        """Up to `limit` (entry id, cosine similarity) of the partition with similarity ≥ `threshold`,
        best first, skipping vectors expired at `now` (default: the current time).

        Read-only and safe to call from another thread while the event loop adds (it scans a snapshot);
        the partition is queued for `compact` when it holds expired vectors."""
        found = self._partitions.get(partition)
        if found is None or limit <= 0 or vector.shape != (self.dimensions,):
            return []
        if now is None:
            now = time.time()
        view = found.view
        if view.size == 0:
            return []
        unexpired = view.expires > now
        live = view.alive & unexpired
        scores = cosine_scores(view.matrix, vector.astype(np.float32, copy=False))
        candidates = np.flatnonzero((scores >= threshold) & live)
        if len(candidates) > limit:
            candidates = candidates[np.argpartition(-scores[candidates], limit - 1)[:limit]]
        best = candidates[np.argsort(-scores[candidates], kind="stable")]
        results = [(view.ids[row], float(scores[row])) for row in best]
        if (view.alive & ~unexpired).any():
            self._expired_seen.append(partition)
        return results

    def compact(self, *, now: float | None = None) -> int:
        """Remove the vectors expired at `now` (default: the current time) from the partitions in which a
        search saw expired ones since the last call; the number removed. Writer thread only."""
        names: set[str] = set()
        while True:
            try:
                names.add(self._expired_seen.popleft())
            except IndexError:
                break
        if now is None:
            now = time.time()
        removed = 0
        for name in names:
            partition = self._partitions.get(name)
            if partition is not None:
                removed += self._remove_where(name, partition, partition.expired(now))
        return removed

    def drop_namespace(self, namespace: str, generation: int) -> None:
        """Drop the namespace's vectors of generations older than `generation` (its generation after a
        purge), and refuse any such vector `add`ed later."""
        if generation >= self._purged.get(namespace, generation):
            self._purged[namespace] = generation
            self._purged.move_to_end(namespace)
            while len(self._purged) > _MAX_PURGED_NAMESPACES:
                self._purged.popitem(last=False)
        for name in list(self._by_namespace.get(namespace, ())):
            partition = self._partitions[name]
            stale = partition.generations[: partition.size] < generation
            self._remove_where(name, partition, stale)

    def _make_room(self, partition: _Partition, now: float) -> None:
        """Evict the partition's expired vectors, then its oldest ones, until one more fits its cap."""
        evicted = partition.kill_where(partition.expired(now))
        excess = len(partition.rows) - self.max_partition_vectors + 1
        if excess > 0:
            evicted += partition.kill_oldest(excess)
        for entry_id in evicted:
            del self._order[entry_id]
        if partition.dead > len(partition.rows):
            partition.rebuild(spare=1)

    def _evict_oldest(self) -> None:
        """Evict the oldest-inserted vectors until the index holds `max_vectors`."""
        touched: dict[str, None] = {}
        while len(self._order) > self.max_vectors:
            entry_id, name = self._order.popitem(last=False)
            self._partitions[name].kill(entry_id)
            touched[name] = None
        for name in touched:
            self._settle(name)

    def _remove_where(self, name: str, partition: _Partition, mask: npt.NDArray[np.bool_]) -> int:
        """Remove the live rows of partition `name` where `mask` holds (one rebuild at most); how many."""
        removed = partition.kill_where(mask)
        for entry_id in removed:
            del self._order[entry_id]
        if removed:
            self._settle(name)
        return len(removed)

    def _settle(self, name: str) -> None:
        """After removals from partition `name`: drop it if empty, rebuild it if mostly dead rows."""
        partition = self._partitions[name]
        if not partition.rows:
            del self._partitions[name]
            names = self._by_namespace[partition.namespace]
            names.discard(name)
            if not names:
                del self._by_namespace[partition.namespace]
        elif partition.dead > len(partition.rows):
            partition.rebuild()

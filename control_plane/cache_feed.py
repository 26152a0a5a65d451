"""The events on the cache index feed (`control_plane.keys.CACHE_FEED`), as values and stream fields.

Every ext_proc replica keeps a local vector index of cached prompts and follows this stream to keep it
current: an `EntryAdded` event puts a vector in; a `NamespacePurged` event drops every vector of the
namespace. The index is only a way to find candidates: each candidate is re-read from Redis before it is
served, so a lost or late event costs a miss, never a wrong answer. Pure encoding, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CACHE_FEED_MAXLEN",
    "EntryAdded",
    "FeedEvent",
    "NamespacePurged",
    "decode_feed_event",
    "encode_feed_event",
]

CACHE_FEED_MAXLEN = 50_000
"""Approximate cap of the stream (XADD MAXLEN ~; ≈ 1.6 KB per event with a 384-d vector, ≈ 80 MB): a
replica starting later misses older entries (a miss, never a wrong answer)."""


@dataclass(frozen=True, slots=True)
class EntryAdded:
    namespace: str
    partition: str
    entry_id: str
    generation: int
    expires_at: float
    """Unix time the entry's TTL ends."""
    embedder: str
    """The embedder's name: vectors of different embedders are never compared."""
    vector: bytes
    """float32 little-endian, unit norm."""


@dataclass(frozen=True, slots=True)
class NamespacePurged:
    namespace: str
    generation: int
    """The namespace's generation after the purge."""


FeedEvent = EntryAdded | NamespacePurged


def encode_feed_event(event: FeedEvent) -> dict[str, bytes]:
    """The XADD fields of `event`."""
    if isinstance(event, NamespacePurged):
        return {"op": b"purge", "ns": event.namespace.encode(), "gen": str(event.generation).encode()}
    return {
        "op": b"add",
        "ns": event.namespace.encode(),
        "part": event.partition.encode(),
        "id": event.entry_id.encode(),
        "gen": str(event.generation).encode(),
        "exp": repr(event.expires_at).encode(),
        "emb": event.embedder.encode(),
        "vec": event.vector,
    }


def decode_feed_event(fields: dict[bytes, bytes]) -> FeedEvent | None:
    """The event in a stream entry's fields; None if it is malformed or of an unknown kind."""
    try:
        op = fields[b"op"]
        namespace = fields[b"ns"].decode()
        generation = int(fields[b"gen"])
        if op == b"purge":
            return NamespacePurged(namespace, generation)
        if op != b"add":
            return None
        return EntryAdded(
            namespace=namespace,
            partition=fields[b"part"].decode(),
            entry_id=fields[b"id"].decode(),
            generation=generation,
            expires_at=float(fields[b"exp"]),
            embedder=fields[b"emb"].decode(),
            vector=fields[b"vec"],
        )
    except (KeyError, ValueError, UnicodeDecodeError):
        return None

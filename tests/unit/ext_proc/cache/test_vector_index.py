"""The partitioned vector index: best first above a threshold, within one partition only, with expiry,
purges by namespace and generation, bounded size and the embedder name checked."""

import numpy as np
import pytest

from control_plane.cache_feed import EntryAdded
from ext_proc.cache.similarity import vector_to_bytes
from ext_proc.cache.vector_index import PartitionedVectorIndex

DIM = 4
NOW = 1_000_000.0
EMBEDDER = "mini"


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def added(
    entry_id: str,
    vector: np.ndarray,
    *,
    partition: str = "p1",
    namespace: str = "t.acme",
    generation: int = 0,
    expires_at: float = NOW + 300,
    embedder: str = EMBEDDER,
) -> EntryAdded:
    return EntryAdded(
        namespace=namespace,
        partition=partition,
        entry_id=entry_id,
        generation=generation,
        expires_at=expires_at,
        embedder=embedder,
        vector=vector_to_bytes(vector),
    )


@pytest.fixture
def index() -> PartitionedVectorIndex:
    return PartitionedVectorIndex(dimensions=DIM, embedder=EMBEDDER)


def test_best_first_above_threshold_and_limited(index: PartitionedVectorIndex) -> None:
    index.add(added("exact", unit(1, 0, 0, 0)))
    index.add(added("close", unit(1, 0.2, 0, 0)))
    index.add(added("closer", unit(1, 0.1, 0, 0)))
    index.add(added("far", unit(0, 1, 0, 0)))
    found = index.search("p1", unit(1, 0, 0, 0), threshold=0.9, now=NOW)
    assert [entry_id for entry_id, _ in found] == ["exact", "closer", "close"]
    assert found[0][1] == pytest.approx(1.0)
    assert all(score >= 0.9 for _, score in found)
    assert [e for e, _ in index.search("p1", unit(1, 0, 0, 0), threshold=0.9, limit=2, now=NOW)] == [
        "exact",
        "closer",
    ]
    assert [e for e, _ in index.search("p1", unit(1, 0, 0, 0), threshold=0.999, now=NOW)] == ["exact"]
    assert index.search("p1", unit(0, 0, 1, 0), threshold=0.5, now=NOW) == []


def test_partition_isolation(index: PartitionedVectorIndex) -> None:
    vector = unit(1, 2, 3, 4)
    index.add(added("theirs", vector, partition="other", namespace="t.other"))
    index.add(added("other-model", vector, partition="p2"))
    assert index.search("p1", vector, threshold=-1.0, now=NOW) == []
    index.add(added("mine", unit(1, 2, 3, 5)))
    assert [e for e, _ in index.search("p1", vector, threshold=-1.0, limit=10, now=NOW)] == ["mine"]


def test_readding_an_entry_replaces_its_vector(index: PartitionedVectorIndex) -> None:
    index.add(added("a", unit(1, 0, 0, 0)))
    index.add(added("a", unit(0, 1, 0, 0)))
    assert len(index) == 1
    assert index.search("p1", unit(1, 0, 0, 0), threshold=0.5, now=NOW) == []
    assert [e for e, _ in index.search("p1", unit(0, 1, 0, 0), threshold=0.5, now=NOW)] == ["a"]


def test_expired_vectors_are_skipped_and_compacted(index: PartitionedVectorIndex) -> None:
    index.add(added("short", unit(1, 0, 0, 0), expires_at=NOW + 10))
    index.add(added("long", unit(1, 0.1, 0, 0), expires_at=NOW + 100))
    assert [e for e, _ in index.search("p1", unit(1, 0, 0, 0), threshold=0.5, now=NOW)] == ["short", "long"]
    assert [e for e, _ in index.search("p1", unit(1, 0, 0, 0), threshold=0.5, now=NOW + 10)] == ["long"]
    assert len(index) == 1
    assert index.search("p1", unit(1, 0, 0, 0), threshold=0.5, now=NOW + 100) == []
    assert len(index) == 0


def test_add_with_now_skips_expired_events(index: PartitionedVectorIndex) -> None:
    assert not index.add(added("old", unit(1, 0, 0, 0), expires_at=NOW - 1), now=NOW)
    assert index.add(added("new", unit(1, 0, 0, 0), expires_at=NOW + 1), now=NOW)
    assert len(index) == 1


def test_drop_namespace_drops_older_generations_only(index: PartitionedVectorIndex) -> None:
    index.add(added("g0", unit(1, 0, 0, 0), generation=0))
    index.add(added("g0-other-partition", unit(1, 0, 0, 0), partition="p2", generation=0))
    index.add(added("g1", unit(1, 0.1, 0, 0), generation=1))
    index.add(added("neighbour", unit(1, 0, 0, 0), partition="n1", namespace="t.other", generation=0))
    index.drop_namespace("t.acme", 1)
    assert [e for e, _ in index.search("p1", unit(1, 0, 0, 0), threshold=0.5, now=NOW)] == ["g1"]
    assert index.search("p2", unit(1, 0, 0, 0), threshold=0.5, now=NOW) == []
    assert [e for e, _ in index.search("n1", unit(1, 0, 0, 0), threshold=0.5, now=NOW)] == ["neighbour"]
    assert len(index) == 2
    index.drop_namespace("t.acme", 2)
    index.drop_namespace("t.unknown", 5)
    assert len(index) == 1


def test_oldest_inserted_are_evicted_past_max_vectors() -> None:
    index = PartitionedVectorIndex(dimensions=DIM, embedder=EMBEDDER, max_vectors=3)
    for number in range(5):
        index.add(added(f"e{number}", unit(1, number / 10, 0, 0), partition=f"p{number % 2}"))
    assert len(index) == 3
    remaining = {
        e
        for p in ("p0", "p1")
        for e, _ in index.search(p, unit(1, 0, 0, 0), threshold=0.0, limit=10, now=NOW)
    }
    assert remaining == {"e2", "e3", "e4"}
    index.add(added("e2", unit(1, 0, 0, 0), partition="p0"))  # re-added: now the newest
    index.add(added("e5", unit(1, 0, 0, 0), partition="p1"))
    remaining = {
        e
        for p in ("p0", "p1")
        for e, _ in index.search(p, unit(1, 0, 0, 0), threshold=0.0, limit=10, now=NOW)
    }
    assert remaining == {"e2", "e4", "e5"}


def test_other_embedder_and_wrong_dimensions_are_ignored(index: PartitionedVectorIndex) -> None:
    assert not index.add(added("other", unit(1, 0, 0, 0), embedder="another-model"))
    assert not index.add(added("short", unit(1, 0, 0)))
    bad = EntryAdded("t.acme", "p1", "bad", 0, NOW + 10, EMBEDDER, b"\x00\x01\x02")
    assert not index.add(bad)
    assert len(index) == 0
    assert index.search("p1", unit(1, 0, 0, 0), threshold=-1.0, now=NOW) == []
    index.add(added("ok", unit(1, 0, 0, 0)))
    assert index.search("p1", unit(1, 0, 0), threshold=-1.0, now=NOW) == []  # a query of other dimensions


def test_many_vectors_removed_and_grown_stay_consistent() -> None:
    rng = np.random.default_rng(7)
    index = PartitionedVectorIndex(dimensions=16, embedder=EMBEDDER)
    vectors = {}
    for number in range(1000):
        vector = rng.standard_normal(16).astype(np.float32)
        vector /= np.linalg.norm(vector)
        vectors[f"e{number}"] = vector
        index.add(added(f"e{number}", vector, generation=number % 2, expires_at=NOW + number))
    index.drop_namespace("t.acme", 1)  # the even numbers (generation 0) go
    found = index.search("p1", vectors["e1"], threshold=-1.0, limit=2000, now=NOW + 500)
    assert {e for e, _ in found} == {f"e{n}" for n in range(501, 1000, 2)}
    for entry_id, score in found:
        assert score == pytest.approx(float(vectors[entry_id] @ vectors["e1"]), abs=1e-5)
    assert len(index) == 250
    assert index.search("p1", vectors["e999"], threshold=0.99, now=NOW)[0][0] == "e999"

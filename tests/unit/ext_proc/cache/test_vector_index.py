"""The partitioned vector index: best first above a threshold, within one partition only, with expiry,
purges by namespace and generation (stale adds refused), bounded size per partition and overall,
vectorised removals, searches safe beside a writer thread, and the embedder name checked."""

import sys
import threading
import time

import numpy as np
import pytest

from control_plane.cache_feed import EntryAdded
from ext_proc.cache import vector_index
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
    assert len(index) == 2  # a search never writes: it queues the partition for `compact`
    assert index.compact(now=NOW + 10) == 1
    assert len(index) == 1
    assert index.compact(now=NOW + 100) == 0  # only partitions a search saw expired vectors in
    assert index.search("p1", unit(1, 0, 0, 0), threshold=0.5, now=NOW + 100) == []
    assert index.compact(now=NOW + 100) == 1
    assert len(index) == 0
    assert not index.holds("p1")


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
    assert index.compact(now=NOW + 500) == 250  # the odd numbers up to 499 expired
    assert len(index) == 250
    assert index.search("p1", vectors["e999"], threshold=0.99, now=NOW)[0][0] == "e999"


def search_all(index: PartitionedVectorIndex, *partitions: str, now: float = NOW) -> set[str]:
    return {
        entry_id
        for partition in partitions
        for entry_id, _ in index.search(partition, unit(1, 0, 0, 0), threshold=-1.0, limit=10**6, now=now)
    }


def test_a_full_partition_evicts_its_expired_vectors_then_its_oldest() -> None:
    index = PartitionedVectorIndex(dimensions=DIM, embedder=EMBEDDER, max_partition_vectors=3)
    index.add(added("a", unit(1, 0, 0, 0)))
    index.add(added("b", unit(1, 0.1, 0, 0), expires_at=NOW + 10))
    index.add(added("c", unit(1, 0.2, 0, 0)))
    index.add(added("elsewhere", unit(1, 0, 0, 0), partition="p2"))
    assert index.add(added("d", unit(1, 0.3, 0, 0)), now=NOW + 20)  # "b" expired: it goes, not "a"
    assert search_all(index, "p1") == {"a", "c", "d"}
    index.add(added("c", unit(1, 0.2, 0, 0)), now=NOW + 20)  # a replacement needs no room
    assert search_all(index, "p1") == {"a", "c", "d"}
    index.add(added("e", unit(1, 0.4, 0, 0)), now=NOW + 20)  # none expired: the oldest ("a") goes
    assert search_all(index, "p1") == {"c", "d", "e"}
    index.add(added("f", unit(1, 0.5, 0, 0)), now=NOW + 20)  # "c" was re-added after "d": "d" goes
    assert search_all(index, "p1") == {"c", "e", "f"}
    assert search_all(index, "p2") == {"elsewhere"}
    assert len(index) == 4


def test_a_partition_never_outgrows_its_cap() -> None:
    assert PartitionedVectorIndex(dimensions=DIM, embedder=EMBEDDER).max_partition_vectors == 20_000
    index = PartitionedVectorIndex(dimensions=DIM, embedder=EMBEDDER, max_partition_vectors=50)
    for number in range(2000):
        index.add(added(f"e{number}", unit(1, number / 2000, 0, 0)), now=NOW)
        assert index.partition_size("p1") <= 80  # the rows a search scans, removed ones included
    assert len(index) == 50
    assert search_all(index, "p1") == {f"e{number}" for number in range(1950, 2000)}
    with pytest.raises(ValueError, match="positive"):
        PartitionedVectorIndex(dimensions=DIM, embedder=EMBEDDER, max_partition_vectors=0)


def test_removals_are_one_rebuild_per_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    index = PartitionedVectorIndex(dimensions=DIM, embedder=EMBEDDER)
    for number in range(600):
        partition = f"p{number % 2}"
        index.add(added(f"e{number}", unit(1, 0, 0, 0), partition=partition, generation=number % 3))
        index.add(added(f"x{number}", unit(1, 0, 0, 0), partition=partition, expires_at=NOW + 5))
    rebuilds: list[int] = []
    single_kills: list[str] = []
    rebuild, kill = vector_index._Partition.rebuild, vector_index._Partition.kill

    def counting_rebuild(self: vector_index._Partition, spare: int = 0) -> None:
        rebuilds.append(spare)
        rebuild(self, spare)

    def counting_kill(self: vector_index._Partition, entry_id: str) -> None:
        single_kills.append(entry_id)
        kill(self, entry_id)

    monkeypatch.setattr(vector_index._Partition, "rebuild", counting_rebuild)
    monkeypatch.setattr(vector_index._Partition, "kill", counting_kill)
    assert search_all(index, "p0", "p1", now=NOW + 10) == {f"e{n}" for n in range(600)}
    assert index.compact(now=NOW + 10) == 600
    assert len(rebuilds) <= 2
    rebuilds.clear()
    index.drop_namespace("t.acme", 2)  # generations 0 and 1 go: 400 of the 600 left
    assert len(rebuilds) <= 2
    assert single_kills == []
    assert search_all(index, "p0", "p1") == {f"e{n}" for n in range(2, 600, 3)}
    assert len(index) == 200
    assert max(index.partition_size("p0"), index.partition_size("p1")) <= 200


def test_an_entry_older_than_the_last_purge_is_refused(index: PartitionedVectorIndex) -> None:
    index.add(added("before", unit(1, 0, 0, 0), generation=0))
    index.drop_namespace("t.acme", 1)  # the generation after the purge
    assert not index.add(added("stale", unit(1, 0, 0, 0), generation=0))  # its event came late
    assert index.add(added("current", unit(1, 0, 0, 0), generation=1))
    assert index.add(added("other-namespace", unit(1, 0, 0, 0), partition="n1", namespace="t.b"))
    index.drop_namespace("t.acme", 0)  # an older purge (out of order): the newer one still holds
    assert not index.add(added("stale", unit(1, 0, 0, 0), generation=0))
    assert search_all(index, "p1") == {"current"}
    index.drop_namespace("t.acme", 3)
    assert not index.add(added("still-stale", unit(1, 0, 0, 0), generation=2))
    assert index.add(added("newest", unit(1, 0, 0, 0), generation=3))
    assert search_all(index, "p1", "n1") == {"newest", "other-namespace"}


def test_remembered_purges_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vector_index, "_MAX_PURGED_NAMESPACES", 2)
    index = PartitionedVectorIndex(dimensions=DIM, embedder=EMBEDDER)
    for namespace in ("t.a", "t.b", "t.c"):
        index.drop_namespace(namespace, 1)
    index.drop_namespace("t.b", 2)  # the least recently purged is forgotten first: "t.a"
    index.drop_namespace("t.d", 1)
    assert index.add(added("a", unit(1, 0, 0, 0), namespace="t.a", partition="pa"))  # forgotten
    assert not index.add(added("b", unit(1, 0, 0, 0), namespace="t.b", partition="pb", generation=1))
    assert index.add(added("c", unit(1, 0, 0, 0), namespace="t.c", partition="pc"))  # forgotten
    assert not index.add(added("d", unit(1, 0, 0, 0), namespace="t.d", partition="pd"))


def test_searches_on_another_thread_see_consistent_rows() -> None:
    """Every (id, score) a search returns, while the writer adds, replaces, evicts and purges, is the
    score of that id's vector: never a torn row or an id paired with another entry's vector."""
    rng = np.random.default_rng(11)
    dimensions = 32
    vectors = rng.standard_normal((400, dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[0]
    index = PartitionedVectorIndex(
        dimensions=dimensions, embedder=EMBEDDER, max_vectors=300, max_partition_vectors=200
    )
    stop = threading.Event()
    problems: list[str] = []

    def search() -> None:
        while not stop.is_set():
            try:
                found = index.search("p1", query, threshold=-1.0, limit=1000, now=NOW)
            except Exception as exc:
                problems.append(repr(exc))
                return
            if len({entry_id for entry_id, _ in found}) != len(found):
                problems.append("an id found twice")
            for entry_id, score in found:
                expected = float(vectors[int(entry_id[1:])] @ query)
                if abs(score - expected) > 1e-4:
                    problems.append(f"{entry_id}: {score} != {expected}")

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    reader = threading.Thread(target=search)
    reader.start()
    try:
        started, step = time.monotonic(), 0
        while time.monotonic() - started < 0.5 and not problems:
            number = int(rng.integers(400))
            partition = "p1" if step % 4 else "p2"
            index.add(added(f"e{number}", vectors[number], partition=partition, generation=step // 500))
            if step % 97 == 0:
                index.drop_namespace("t.acme", step // 500)
            step += 1
    finally:
        stop.set()
        reader.join()
        sys.setswitchinterval(previous)
    assert problems == []

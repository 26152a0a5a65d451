"""SnapshotCache: per-type versions that move only with content, last good kept, waiters woken."""

from __future__ import annotations

import asyncio

import pytest

from control_plane.model import Backend, Snapshot
from tests.unit.xds.xds_samples import model, snapshot
from xds.cache import SnapshotCache
from xds.resource_type import ResourceType
from xds.translate import Resources, TranslateOptions, translate

CDS, EDS, LDS, RDS = ResourceType.CLUSTER, ResourceType.ENDPOINT, ResourceType.LISTENER, ResourceType.ROUTE
OPTIONS = TranslateOptions(listener_port=8080)


def ip_model(name: str = "m", host: str = "10.0.0.1", weight: int = 1) -> Snapshot:
    return snapshot(0, model(name, Backend(name="a", base_url=f"http://{host}:8000/v1", weight=weight)))


def at(version: int, snap: Snapshot) -> Snapshot:
    return snap.model_copy(update={"version": version})


def versions(cache: SnapshotCache, port: int | None = None) -> dict[str, str]:
    view = cache.view(port)
    assert view is not None
    return {t.short_name: view.version(t) for t in ResourceType}


def test_no_view_before_the_first_snapshot() -> None:
    cache = SnapshotCache(OPTIONS)
    assert cache.view() is None
    assert cache.registry_version is None


def test_first_snapshot_versions_every_type_with_the_registry_version() -> None:
    cache = SnapshotCache(OPTIONS)
    assert cache.set_snapshot(at(7, ip_model()))
    assert versions(cache) == {"cds": "v7", "eds": "v7", "lds": "v7", "rds": "v7", "sds": "v7"}
    assert cache.registry_version == 7


def test_only_the_types_whose_content_changed_get_a_new_version() -> None:
    cache = SnapshotCache(OPTIONS)
    cache.set_snapshot(at(1, ip_model(weight=1)))
    cache.set_snapshot(at(2, ip_model(weight=5)))  # endpoint weight: EDS only
    assert versions(cache) == {"cds": "v1", "eds": "v2", "lds": "v1", "rds": "v1", "sds": "v1"}
    cache.set_snapshot(at(3, ip_model(name="other", weight=5)))  # a renamed model touches CDS, EDS, RDS
    assert versions(cache) == {"cds": "v3", "eds": "v3", "lds": "v1", "rds": "v3", "sds": "v1"}


def test_an_unchanged_snapshot_does_not_wake_anyone() -> None:
    cache = SnapshotCache(OPTIONS)
    cache.set_snapshot(at(1, ip_model()))
    generation = cache.generation
    assert cache.set_snapshot(at(2, ip_model()))
    assert cache.generation == generation
    assert versions(cache)["cds"] == "v1"


def test_view_serves_requested_names_only_and_wildcard_everything() -> None:
    cache = SnapshotCache(OPTIONS)
    cache.set_snapshot(snapshot(1, *ip_model("a").models, *ip_model("b", "10.0.0.2").models))
    view = cache.view()
    assert view is not None
    assert [r.unpack().name for r in view.resources(CDS)] == ["model.a", "model.b"]  # type: ignore[union-attr]
    eds = view.resources(EDS, ["model.b", "model.unknown"])
    assert [r.unpack().cluster_name for r in eds] == ["model.b"]  # type: ignore[union-attr]
    assert view.resources(EDS, []) == []


def test_inconsistent_translation_is_refused_and_the_last_good_kept() -> None:
    def broken(snap: Snapshot, options: TranslateOptions) -> Resources:
        good = translate(snap, options)
        if snap.version < 2:
            return good
        return Resources(clusters={}, endpoints=good.endpoints, listeners=good.listeners, routes=good.routes)

    cache = SnapshotCache(OPTIONS, translator=broken)
    assert cache.set_snapshot(at(1, ip_model()))
    generation = cache.generation
    assert not cache.set_snapshot(at(2, ip_model(name="other")))
    assert cache.registry_version == 1
    assert cache.generation == generation
    view = cache.view()
    assert view is not None
    assert list(view.types[CDS].resources) == ["model.m"]


def test_a_node_with_its_own_listener_port_gets_its_own_listener_version_line() -> None:
    cache = SnapshotCache(OPTIONS)
    cache.set_snapshot(at(1, ip_model()))
    other = cache.view(9191)
    assert other is not None
    listener = other.types[LDS].resources["tollway_http"].unpack()
    assert listener.address.socket_address.port_value == 9191  # type: ignore[union-attr]
    default = cache.view()
    assert default is not None
    assert (
        default.types[LDS].resources["tollway_http"].value != other.types[LDS].resources["tollway_http"].value
    )
    assert other.version(CDS) == default.version(CDS) == "v1"
    cache.set_snapshot(at(2, ip_model(weight=9)))
    assert versions(cache, 9191) == {"cds": "v1", "eds": "v2", "lds": "v1", "rds": "v1", "sds": "v1"}


def test_a_reused_registry_version_still_gets_a_fresh_type_version() -> None:
    cache = SnapshotCache(OPTIONS)
    cache.set_snapshot(at(5, ip_model(weight=1)))
    cache.set_snapshot(at(5, ip_model(weight=2)))  # e.g. the registry was reset and counted up again
    assert versions(cache)["eds"] == "v5.2"


async def test_set_snapshot_wakes_every_waiter() -> None:
    cache = SnapshotCache(OPTIONS)
    start = cache.generation
    waiters = [asyncio.create_task(cache.wait_for_change(start)) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    cache.set_snapshot(at(1, ip_model()))
    results = await asyncio.wait_for(asyncio.gather(*waiters), 1.0)
    assert results == [start + 1] * 3


async def test_wait_for_change_returns_at_once_when_already_behind() -> None:
    cache = SnapshotCache(OPTIONS)
    cache.set_snapshot(at(1, ip_model()))
    assert await asyncio.wait_for(cache.wait_for_change(0), 0.1) == 1


@pytest.mark.parametrize("port", [None, 8080])
def test_default_port_view_is_the_same_object(port: int | None) -> None:
    cache = SnapshotCache(OPTIONS)
    cache.set_snapshot(at(1, ip_model()))
    assert cache.view(port) is cache.view()


def test_a_translation_error_is_refused_like_an_inconsistency() -> None:
    def failing(snap: Snapshot, options: TranslateOptions) -> Resources:
        if snap.version >= 2:
            raise ValueError("value out of range for a uint32 field")
        return translate(snap, options)

    cache = SnapshotCache(OPTIONS, translator=failing)
    assert cache.set_snapshot(at(1, ip_model()))
    assert not cache.set_snapshot(at(2, ip_model(weight=3)))
    assert cache.registry_version == 1
    assert versions(cache)["eds"] == "v1"

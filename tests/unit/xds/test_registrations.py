"""Registry snapshot + self-registrations: the pure merge, and what the cache and a stream do with it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from envoy_data_plane.envoy.config.endpoint.v3 import ClusterLoadAssignment
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryResponse

from control_plane.model import Backend, BackendRegistration, RegistrationPolicy
from tests.unit.xds.xds_fake_envoy import FakeEnvoy
from tests.unit.xds.xds_samples import model, snapshot
from xds.app import CacheInputs
from xds.cache import SnapshotCache
from xds.registrations import with_registrations
from xds.resource_type import ResourceType
from xds.stream import AdsStream
from xds.translate import TranslateOptions

CDS, EDS, LDS, RDS = ResourceType.CLUSTER, ResourceType.ENDPOINT, ResourceType.LISTENER, ResourceType.ROUTE
LATER = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
STATIC = Backend(name="static", base_url="http://10.0.0.1:8000/v1")
OPEN = {"registration": RegistrationPolicy(allowed_networks=("10.0.0.0/8", "127.0.0.0/8"))}
REGISTRY = snapshot(
    3, model("llama", STATIC).model_copy(update=OPEN), model("qwen", STATIC).model_copy(update=OPEN)
)


def registration(model_name: str, name: str, host: str = "10.0.0.9", **fields: object) -> BackendRegistration:
    backend = Backend.model_validate({"name": name, "base_url": f"http://{host}:8000/v1", **fields})
    return BackendRegistration(model=model_name, backend=backend, expires_at=LATER)


def versions(cache: SnapshotCache) -> dict[str, str]:
    view = cache.view()
    assert view is not None
    return {t.short_name: view.version(t) for t in (CDS, EDS, LDS, RDS)}


def endpoints(response: DiscoveryResponse, cluster: str) -> list[tuple[str, int]]:
    for packed in response.resources:
        assignment = packed.unpack()
        assert isinstance(assignment, ClusterLoadAssignment)
        if assignment.cluster_name == cluster:
            return [
                (e.endpoint.address.socket_address.address, e.load_balancing_weight or 1)  # type: ignore[union-attr]
                for group in assignment.endpoints
                for e in group.lb_endpoints
            ]
    raise AssertionError(f"no {cluster} in the response")


def test_registrations_join_their_models_static_backends() -> None:
    merged = with_registrations(
        REGISTRY, [registration("llama", "gpu2", weight=3), registration("llama", "gpu3", "10.0.0.10")]
    )
    assert merged.ignored == ()
    assert merged.snapshot.version == 3
    llama = merged.snapshot.spec.model("llama")
    assert llama is not None
    assert [(b.name, b.weight) for b in llama.backends] == [("static", 1), ("gpu2", 3), ("gpu3", 1)]
    assert merged.snapshot.spec.model("qwen") == REGISTRY.spec.model("qwen")
    assert with_registrations(REGISTRY, []).snapshot is REGISTRY


def test_registrations_that_do_not_fit_are_left_out_with_a_reason() -> None:
    merged = with_registrations(
        REGISTRY,
        [
            registration("ghost", "gpu2"),
            registration("llama", "static"),  # the registry gained a backend of that name
            registration("qwen", "dns", host="gpu.internal"),
            registration("qwen", "ok"),
        ],
    )
    reasons = {r.key: reason for r, reason in merged.ignored}
    assert reasons.keys() == {("ghost", "gpu2"), ("llama", "static"), ("qwen", "dns")}
    assert reasons["ghost", "gpu2"] == "model 'ghost' is not in the registry"
    assert "has a registry backend of that name" in reasons["llama", "static"]
    assert "IP literal or localhost" in reasons["qwen", "dns"]
    qwen = merged.snapshot.spec.model("qwen")
    assert qwen is not None
    assert [b.name for b in qwen.backends] == ["static", "ok"]


def test_an_endpoints_only_change_gets_a_new_unique_eds_version_and_nothing_else() -> None:
    cache = SnapshotCache(TranslateOptions(listener_port=8080))
    inputs = CacheInputs(cache)
    assert inputs.set_registrations([registration("llama", "gpu2")]) is False  # no registry yet
    assert inputs.set_snapshot(REGISTRY)
    first = versions(cache)
    assert first == {"cds": "v3", "eds": "v3", "lds": "v3", "rds": "v3"}
    seen = {first["eds"]}
    for regs in ([], [registration("llama", "gpu2")], [registration("llama", "gpu2", weight=9)], []):
        generation = cache.generation
        inputs.set_registrations(regs)
        now = versions(cache)
        assert cache.generation == generation + 1  # streams are woken
        assert {k: v for k, v in now.items() if k != "eds"} == {"cds": "v3", "lds": "v3", "rds": "v3"}
        assert now["eds"] not in seen  # never a version Envoy already has for other content
        seen.add(now["eds"])
    generation = cache.generation
    inputs.set_registrations([])  # the same content again: no new version, nobody woken
    assert cache.generation == generation


def test_a_stream_is_pushed_only_the_new_eds_when_a_backend_registers_and_leaves() -> None:
    cache = SnapshotCache(TranslateOptions(listener_port=8080))
    inputs = CacheInputs(cache)
    inputs.set_snapshot(REGISTRY)
    envoy = FakeEnvoy(AdsStream(cache, instance_id="xds-test", clock=lambda: LATER))
    clusters = ["model.llama", "model.qwen"]
    _, (cds,) = envoy.request(CDS)
    _, (eds,) = envoy.request(EDS, clusters)
    envoy.ack(cds)
    envoy.ack(eds, clusters)
    _, (lds,) = envoy.request(LDS)
    _, (rds,) = envoy.request(RDS, ["tollway"])
    envoy.ack(lds)
    envoy.ack(rds, ["tollway"])
    assert endpoints(eds, "model.llama") == [("10.0.0.1", 1)]

    inputs.set_registrations([registration("llama", "gpu2", weight=3)])
    (joined,) = envoy.stream.handle_cache_change()
    assert ResourceType.from_type_url(joined.type_url) is EDS
    assert sorted(endpoints(joined, "model.llama")) == [("10.0.0.1", 1), ("10.0.0.9", 3)]
    envoy.ack(joined, clusters)

    inputs.set_registrations([])  # the lease ran out
    (left,) = envoy.stream.handle_cache_change()
    assert ResourceType.from_type_url(left.type_url) is EDS
    assert left.version_info not in {eds.version_info, joined.version_info}
    assert endpoints(left, "model.llama") == [("10.0.0.1", 1)]


def test_each_ignored_registration_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    inputs = CacheInputs(SnapshotCache(TranslateOptions(listener_port=8080)))
    inputs.set_snapshot(REGISTRY)
    with caplog.at_level(logging.WARNING, logger="xds.app"):
        for _ in range(3):
            inputs.set_registrations([registration("ghost", "gpu2")])
        inputs.set_snapshot(REGISTRY.model_copy(update={"version": 4}))
    assert [r.getMessage() for r in caplog.records] == [
        "registration ghost/gpu2 ignored: model 'ghost' is not in the registry"
    ]

"""AdsStream state machine, driven by a scripted Envoy (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from envoy_data_plane.envoy.config.listener.v3 import Listener
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryResponse

from control_plane.model import Backend, Snapshot, Timeouts, TrafficPolicy
from tests.unit.xds.xds_fake_envoy import FakeEnvoy, names_of
from tests.unit.xds.xds_samples import model, snapshot
from xds.cache import SnapshotCache
from xds.resource_type import ResourceType
from xds.stream import AdsStream, RequestOutcome
from xds.translate import TranslateOptions

CDS, EDS, LDS, RDS = ResourceType.CLUSTER, ResourceType.ENDPOINT, ResourceType.LISTENER, ResourceType.ROUTE
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def registry(version: int, *names: str, weight: int = 1) -> Snapshot:
    models = [
        model(n, Backend(name="a", base_url=f"http://10.0.0.{i + 1}:8000/v1", weight=weight))
        for i, n in enumerate(names)
    ]
    return snapshot(version, *models)


def kinds(responses: list[DiscoveryResponse]) -> list[tuple[str, str]]:
    return [(ResourceType.from_type_url(r.type_url).short_name, r.version_info) for r in responses]  # type: ignore[union-attr]


@pytest.fixture
def cache() -> SnapshotCache:
    cache = SnapshotCache(TranslateOptions(listener_port=8080))
    cache.set_snapshot(registry(1, "a", "b"))
    return cache


@pytest.fixture
def envoy(cache: SnapshotCache) -> FakeEnvoy:
    return FakeEnvoy(AdsStream(cache, instance_id="xds-test", clock=lambda: NOW))


def sync(envoy: FakeEnvoy) -> dict[ResourceType, DiscoveryResponse]:
    """The initial exchange as Envoy 1.40 does it; returns the last response per type, all ACKed."""
    _, (cds,) = envoy.request(CDS)
    _, (eds,) = envoy.request(EDS, ["model.a", "model.b"])
    _, after_cds_ack = envoy.ack(cds)
    assert after_cds_ack == []
    envoy.ack(eds, ["model.a", "model.b"])
    _, (lds,) = envoy.request(LDS)
    _, (rds,) = envoy.request(RDS, ["tollway"])
    envoy.ack(lds)
    envoy.ack(rds, ["tollway"])
    return {CDS: cds, EDS: eds, LDS: lds, RDS: rds}


def test_initial_exchange_answers_in_order_cds_eds_then_lds_rds_after_the_cds_ack(envoy: FakeEnvoy) -> None:
    outcome, responses = envoy.request(CDS)
    assert outcome is RequestOutcome.REQUEST
    assert kinds(responses) == [("cds", "v1")]
    assert names_of(responses[0]) == ["model.a", "model.b"]
    cds = responses[0]
    _, early_lds = envoy.request(LDS)  # LDS asked before CDS was answered: held back
    assert early_lds == []
    _, eds = envoy.request(EDS, ["model.a", "model.b"])
    assert kinds(eds) == [("eds", "v1")]
    outcome, released = envoy.ack(cds)
    assert outcome is RequestOutcome.ACK
    assert kinds(released) == [("lds", "v1")]
    _, rds = envoy.request(RDS, ["tollway"])
    assert kinds(rds) == [("rds", "v1")]
    assert names_of(rds[0]) == ["tollway"]


def test_requests_before_any_snapshot_stay_open_until_one_arrives() -> None:
    cache = SnapshotCache(TranslateOptions())
    envoy = FakeEnvoy(AdsStream(cache))
    assert envoy.request(CDS) == (RequestOutcome.REQUEST, [])
    assert envoy.request(LDS) == (RequestOutcome.REQUEST, [])
    cache.set_snapshot(registry(4, "a"))
    assert kinds(envoy.stream.handle_cache_change()) == [("cds", "v4")]  # LDS waits for the CDS answer


def test_nonces_are_unique_per_response(envoy: FakeEnvoy) -> None:
    responses = sync(envoy)
    nonces = [r.nonce for r in responses.values()]
    assert len(set(nonces)) == 4
    assert all(nonces)


def test_ack_is_recorded_and_nothing_is_resent(envoy: FakeEnvoy) -> None:
    sync(envoy)
    status = envoy.stream.status()
    assert status.node_id == "n1"
    assert status.cluster == "tollway"
    assert status.connected
    assert status.xds_instance == "xds-test"
    assert {t: (s.sent_version, s.acked_version) for t, s in status.resources.items()} == {
        "cds": ("v1", "v1"),
        "eds": ("v1", "v1"),
        "lds": ("v1", "v1"),
        "rds": ("v1", "v1"),
    }
    assert envoy.stream.handle_cache_change() == []


def test_nack_is_recorded_and_the_rejected_version_is_not_resent(
    envoy: FakeEnvoy, cache: SnapshotCache
) -> None:
    responses = sync(envoy)
    cache.set_snapshot(registry(2, "a", "b", "c"))
    cds, _eds = envoy.stream.handle_cache_change()
    outcome, after_nack = envoy.nack(cds, "Invalid path: /nonexistent/ca.pem")
    assert outcome is RequestOutcome.NACK
    # The NACK settles CDS v2, so the routes of v2 may go out; CDS v2 itself is not sent again.
    assert kinds(after_nack) == [("rds", "v2")]
    cds_status = envoy.stream.status().resources["cds"]
    assert cds_status.sent_version == "v2"
    assert cds_status.acked_version == "v1"  # what Envoy still runs
    assert cds_status.last_nack is not None
    assert cds_status.last_nack.version == "v2"
    assert cds_status.last_nack.message == "Invalid path: /nonexistent/ca.pem"
    assert cds_status.last_nack.at == NOW
    assert envoy.stream.handle_cache_change() == []
    cache.set_snapshot(registry(3, "a", "b", "c"))  # same content, newer registry version
    assert envoy.stream.handle_cache_change() == []
    assert responses[CDS].version_info == "v1"


def test_a_fixed_registry_after_a_nack_is_sent_and_acked(envoy: FakeEnvoy, cache: SnapshotCache) -> None:
    sync(envoy)
    cache.set_snapshot(registry(2, "a", "b", "c"))
    cds, _eds = envoy.stream.handle_cache_change()
    envoy.nack(cds, "bad")
    cache.set_snapshot(registry(3, "a", "b"))
    (fixed,) = envoy.stream.handle_cache_change()
    assert kinds([fixed]) == [("cds", "v3")]
    assert envoy.ack(fixed)[0] is RequestOutcome.ACK
    status = envoy.stream.status().resources["cds"]
    assert (status.sent_version, status.acked_version) == ("v3", "v3")
    assert status.last_nack is not None  # history stays visible


def test_stale_nonce_is_ignored(envoy: FakeEnvoy, cache: SnapshotCache) -> None:
    first = sync(envoy)
    cache.set_snapshot(registry(2, "a", "b", weight=7))
    (eds,) = envoy.stream.handle_cache_change()
    outcome, responses = envoy.request(EDS, ["model.a"], nonce=first[EDS].nonce)  # quotes the old nonce
    assert outcome is RequestOutcome.STALE
    assert responses == []
    assert envoy.stream.status().resources["eds"].acked_version == "v1"
    assert envoy.ack(eds, ["model.a", "model.b"])[0] is RequestOutcome.ACK


def test_eds_answers_only_the_requested_names_and_follows_subscription_changes(envoy: FakeEnvoy) -> None:
    envoy.request(CDS)
    _, (eds,) = envoy.request(EDS, ["model.b"])
    assert names_of(eds) == ["model.b"]
    _, (more,) = envoy.ack(eds, ["model.a", "model.b"])
    assert more.version_info == eds.version_info
    assert names_of(more) == ["model.a", "model.b"]
    _, unknown = envoy.ack(more, ["model.a", "model.b", "model.gone"])
    assert names_of(unknown[0]) == ["model.a", "model.b"]


def test_a_new_snapshot_pushes_only_the_changed_types(envoy: FakeEnvoy, cache: SnapshotCache) -> None:
    sync(envoy)
    cache.set_snapshot(registry(2, "a", "b", weight=3))  # endpoint weights only
    assert kinds(envoy.stream.handle_cache_change()) == [("eds", "v2")]


def test_lds_and_rds_of_a_new_version_wait_for_the_cds_ack(envoy: FakeEnvoy, cache: SnapshotCache) -> None:
    sync(envoy)
    cache.set_snapshot(registry(2, "a", "b", "c"))  # new model: CDS, EDS, RDS change
    pushed = envoy.stream.handle_cache_change()
    assert kinds(pushed) == [("cds", "v2"), ("eds", "v2")]
    cds, eds = pushed
    assert names_of(eds) == ["model.a", "model.b"]  # model.c only once Envoy subscribes to it
    _, (eds_c,) = envoy.ack(eds, ["model.a", "model.b", "model.c"])
    assert names_of(eds_c) == ["model.a", "model.b", "model.c"]
    assert envoy.stream.handle_cache_change() == []  # still no routes: the new cluster is warming
    envoy.ack(eds_c, ["model.a", "model.b", "model.c"])
    _, released = envoy.ack(cds)
    assert kinds(released) == [("rds", "v2")]
    assert [r.name for r in released[0].resources[0].unpack().virtual_hosts[0].routes][1::2] == [
        "a",
        "b",
        "c",
    ]  # type: ignore[union-attr]


def test_route_only_changes_are_not_gated(envoy: FakeEnvoy, cache: SnapshotCache) -> None:
    sync(envoy)
    changed = registry(2, "a", "b").models
    cache.set_snapshot(
        snapshot(
            2,
            changed[0].model_copy(update={"traffic": TrafficPolicy(timeouts=Timeouts(idle_s=42.0))}),
            changed[1],
        )
    )
    assert kinds(envoy.stream.handle_cache_change()) == [("rds", "v2")]


def _listener_port(response: DiscoveryResponse) -> int:
    listener = response.resources[0].unpack()
    assert isinstance(listener, Listener)
    assert listener.address is not None
    assert listener.address.socket_address is not None
    return listener.address.socket_address.port_value


@pytest.mark.parametrize(
    ("metadata", "port"),
    [
        ({"tollway.listener_port": 9191}, 9191),
        ({"tollway.listener_port": "9292"}, 9292),
        ({"tollway.listener_port": 70000}, 8080),
        ({"tollway.listener_port": "eighty"}, 8080),
        ({"other": 1}, 8080),
        (None, 8080),
    ],
)
def test_listener_port_comes_from_node_metadata(
    cache: SnapshotCache, metadata: dict[str, object] | None, port: int
) -> None:
    envoy = FakeEnvoy(AdsStream(cache), metadata=metadata)
    _, (cds,) = envoy.request(CDS)
    envoy.request(EDS, ["model.a", "model.b"])
    envoy.ack(cds)
    _, (lds,) = envoy.request(LDS)
    assert _listener_port(lds) == port
    assert envoy.stream.listener_port == port


@pytest.mark.parametrize(
    ("metadata", "admin_url"),
    [
        ({"tollway.admin_url": "http://10.1.2.3:9901/"}, "http://10.1.2.3:9901"),
        ({"tollway.admin_url": "https://envoy-0.internal:9901"}, "https://envoy-0.internal:9901"),
        ({"tollway.admin_url": "10.1.2.3:9901"}, ""),
        ({"tollway.admin_url": 9901}, ""),
        (None, ""),
    ],
)
def test_admin_url_comes_from_node_metadata_into_the_status(
    cache: SnapshotCache, metadata: dict[str, object] | None, admin_url: str
) -> None:
    envoy = FakeEnvoy(AdsStream(cache, clock=lambda: NOW), metadata=metadata)
    envoy.request(CDS)
    status = envoy.stream.status()
    assert status.admin_url == admin_url
    assert status.node_id == "n1"


def test_unknown_type_is_ignored(envoy: FakeEnvoy) -> None:
    stream = envoy.stream
    envoy.request(CDS)
    from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest

    outcome, responses = stream.handle_request(DiscoveryRequest(type_url="type.googleapis.com/envoy.Secret"))
    assert outcome is RequestOutcome.UNKNOWN_TYPE
    assert responses == []


def test_node_identity_comes_from_the_first_request_only(envoy: FakeEnvoy) -> None:
    envoy.request(CDS)
    assert envoy.stream.node_id == "n1"
    envoy.request(LDS)  # carries no node
    assert envoy.stream.node_id == "n1"
    assert envoy.stream.status().connected_at == NOW


def test_a_fresh_stream_always_gets_the_current_version_even_if_envoy_has_it(cache: SnapshotCache) -> None:
    envoy = FakeEnvoy(AdsStream(cache))
    outcome, responses = envoy.request(CDS, version="v1")  # Envoy reconnecting with what it already runs
    assert outcome is RequestOutcome.REQUEST
    assert kinds(responses) == [("cds", "v1")]


def test_status_lists_only_requested_types(envoy: FakeEnvoy) -> None:
    envoy.request(CDS)
    assert list(envoy.stream.status().resources) == ["cds"]
    assert not envoy.stream.status(connected=False).connected

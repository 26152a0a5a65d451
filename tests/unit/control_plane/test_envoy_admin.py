"""Parsing Envoy 1.40's `/clusters?format=json` and `/stats?format=json` (recorded from real Envoys) and
fetching them from several nodes at once, through httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from control_plane.envoy_admin import (
    EnvoyAdminClient,
    backend_index,
    parse_cluster_stats,
    parse_clusters,
)
from control_plane.model import (
    Backend,
    ClusterHealth,
    HostHealth,
    HostState,
    Model,
    NodeStatus,
    RegistrySpec,
    Snapshot,
    host_state,
)

DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 11, 21, tzinfo=UTC)
# Recorded from `tollway` stacks: the mock upstream listened on these ports.
PORT_PLAIN, PORT_EJECTED = 56233, 43943


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def registry(mock_port: int) -> Snapshot:
    """The registry the recordings were made with."""
    mock = f"http://127.0.0.1:{mock_port}/v1"
    models = (
        Model(name="demo", backends=(Backend(name="mock", base_url=mock),)),
        Model(
            name="pair",
            backends=(
                Backend(name="alive", base_url=mock),
                Backend(name="dead", base_url="http://127.0.0.1:1/v1"),
                Backend(name="spare", base_url="http://localhost:2/v1", priority=3, weight=5),
            ),
        ),
        Model(name="org/m:1.5@x+y", backends=(Backend(name="x", base_url="http://127.0.0.1:3/v1"),)),
    )
    return Snapshot(version=7, spec=RegistrySpec(models=models))


def by_model(clusters: tuple[ClusterHealth, ...]) -> dict[str, ClusterHealth]:
    return {c.model: c for c in clusters}


def by_backend(cluster: ClusterHealth) -> dict[str, HostHealth]:
    return {h.backend: h for h in cluster.hosts}


# ---- parsing ------------------------------------------------------------------------------------------


def test_model_clusters_only_with_backend_names_priorities_weights_and_counters() -> None:
    clusters = parse_clusters(load("envoy_clusters.json"), backend_index(registry(PORT_PLAIN)))
    assert [c.cluster for c in clusters] == ["model.demo", "model.org/m:1.5@x+y", "model.pair"]
    pair = by_model(clusters)["pair"]
    assert [h.backend for h in pair.hosts] == ["alive", "dead", "spare"]  # priority, then name
    hosts = by_backend(pair)
    assert hosts["alive"] == HostHealth(
        backend="alive", address=f"127.0.0.1:{PORT_PLAIN}", hostname="127.0.0.1", priority=0, weight=1,
        state=HostState.HEALTHY, flags=(), eds_health_status="HEALTHY",
        rq_total=1, rq_success=1, cx_total=1,
    )  # fmt: skip
    dead = hosts["dead"]
    assert (dead.address, dead.state, dead.flags) == ("127.0.0.1:1", HostState.HEALTHY, ())
    assert (dead.cx_connect_fail, dead.cx_total, dead.rq_error, dead.rq_total) == (5, 5, 5, 0)
    spare = hosts["spare"]  # `localhost` backends: Envoy connects to 127.0.0.1, hostname stays localhost
    assert (spare.address, spare.hostname, spare.priority, spare.weight) == ("127.0.0.1:2", "localhost", 1, 5)
    assert by_model(clusters)["org/m:1.5@x+y"].hosts[0].backend == "x"
    # Cluster counters come from /stats, not from this document.
    assert pair.upstream_rq_5xx is None
    assert pair.ejections_active is None


def test_outlier_ejection_makes_hosts_unhealthy() -> None:
    clusters = parse_clusters(load("envoy_clusters_ejected.json"), backend_index(registry(PORT_EJECTED)))
    hosts = by_backend(by_model(clusters)["pair"])
    assert hosts["alive"].state is HostState.HEALTHY
    for name in ("dead", "spare"):
        assert hosts[name].state is HostState.UNHEALTHY
        assert hosts[name].flags == ("failed_outlier_check",)
        assert hosts[name].cx_connect_fail == 6


def test_active_health_check_failure_and_unknown_backends() -> None:
    """A static Envoy with outlier detection (model.od) and an active health check (model.hc)."""
    clusters = by_model(parse_clusters(load("envoy_clusters_health_check.json"), backend_index(registry(1))))
    assert set(clusters) == {"od", "hc"}
    hc = {h.address: h for h in clusters["hc"].hosts}
    assert hc["127.0.0.1:1"].flags == ("failed_active_health_check",)
    assert hc["127.0.0.1:1"].state is HostState.UNHEALTHY
    assert hc[f"127.0.0.1:{PORT_PLAIN}"].state is HostState.HEALTHY
    od = {h.address: h for h in clusters["od"].hosts}
    assert od["127.0.0.1:1"].flags == ("failed_outlier_check",)
    assert {h.backend for h in (*hc.values(), *od.values())} == {""}  # models the registry lacks


def test_cluster_counters_from_stats() -> None:
    counters = parse_cluster_stats(load("envoy_stats_ejected.json"), ["model.pair", "model.demo"])
    assert counters["model.pair"] == {
        "upstream_rq_5xx": 0,  # Envoy creates it on the first 5xx: absent means 0
        "upstream_rq_retry": 12,
        "outlier_detection.ejections_active": 2,
        "outlier_detection.ejections_enforced_total": 4,
    }
    assert counters["model.demo"]["upstream_rq_retry"] == 0


def test_stats_of_other_clusters_and_stat_name_sanitizing() -> None:
    document = {
        "stats": [
            {"name": "cluster.model.od.external.upstream_rq_5xx", "value": 99},  # not model.od's own
            {"name": "cluster.model.od.upstream_rq_5xx", "value": 2},
            {"name": "cluster.model.org/m_1.5@x+y.upstream_rq_retry", "value": 7},  # Envoy: `:` → `_`
            {"name": "cluster.tollway_xds.upstream_rq_retry", "value": 5},
            {"name": "http.tollway.downstream_rq_5xx", "value": 1},
        ]
    }
    counters = parse_cluster_stats(document, ["model.od", "model.org/m:1.5@x+y"])
    assert counters["model.od"]["upstream_rq_5xx"] == 2
    assert counters["model.org/m:1.5@x+y"]["upstream_rq_retry"] == 7
    assert set(counters) == {"model.od", "model.org/m:1.5@x+y"}
    recorded = parse_cluster_stats(load("envoy_stats_health_check.json"), ["model.od"])
    assert recorded["model.od"]["upstream_rq_5xx"] == 2
    assert recorded["model.od"]["outlier_detection.ejections_active"] == 1


@pytest.mark.parametrize(
    ("flags", "eds", "state"),
    [
        ((), "HEALTHY", HostState.HEALTHY),
        ((), "", HostState.HEALTHY),
        (("pending_dynamic_removal",), "HEALTHY", HostState.HEALTHY),
        (("failed_outlier_check",), "HEALTHY", HostState.UNHEALTHY),
        (("failed_active_health_check", "active_hc_timeout"), "HEALTHY", HostState.UNHEALTHY),
        ((), "DRAINING", HostState.UNHEALTHY),
        (("pending_active_hc",), "HEALTHY", HostState.EXCLUDED),
        (("failed_active_degraded_check",), "HEALTHY", HostState.DEGRADED),
        ((), "DEGRADED", HostState.DEGRADED),
        (("failed_outlier_check", "failed_active_degraded_check"), "HEALTHY", HostState.UNHEALTHY),
    ],
)
def test_host_state(flags: tuple[str, ...], eds: str, state: HostState) -> None:
    assert host_state(flags, eds) is state


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        "text",
        {"cluster_statuses": "x"},
        {"cluster_statuses": [None, 3, {"name": 5}, {"name": "model."}]},
        {"cluster_statuses": [{"name": "model.m", "host_statuses": [None, {}]}]},
        {"cluster_statuses": [{"name": "model.m", "host_statuses": [{
            "address": {"socket_address": {"address": 1, "port_value": "x"}}, "weight": True,
            "stats": [None, {"name": "rq_error", "value": "many"}, {"name": "rq_total", "value": 2.0}],
            "health_status": {"failed_outlier_check": "yes", "eds_health_status": 3},
            "success_rate": {"value": "bad"},
        }]}]},
    ],
)  # fmt: skip
def test_unexpected_shapes_read_as_absent(document: object) -> None:
    clusters = parse_clusters(document, backend_index(registry(1)))
    for cluster in clusters:
        for host in cluster.hosts:
            assert host.state is HostState.HEALTHY
            assert host.rq_error == 0
            assert host.weight == 1
            assert host.backend == ""
    assert parse_cluster_stats(document, ["model.m"]) == {"model.m": dict.fromkeys(
        ("upstream_rq_5xx", "upstream_rq_retry", "outlier_detection.ejections_active",
         "outlier_detection.ejections_enforced_total"), 0)}  # fmt: skip


def test_success_rate_is_read_when_envoy_computes_it() -> None:
    document = {
        "cluster_statuses": [{"name": "model.m", "host_statuses": [{"success_rate": {"value": 87.5}}]}]
    }
    (cluster,) = parse_clusters(document, backend_index(registry(1)))
    assert cluster.hosts[0].success_rate == 87.5


# ---- fetching -----------------------------------------------------------------------------------------


def node(node_id: str, admin_url: str, *, connected: bool = True) -> NodeStatus:
    return NodeStatus(
        node_id=node_id, connected=connected, connected_at=NOW, updated_at=NOW, admin_url=admin_url
    )


Handler = Callable[[httpx.Request], httpx.Response]


def envoy_admin(
    clusters: str = "envoy_clusters_ejected.json", stats: str | None = "envoy_stats_ejected.json"
) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/clusters" and request.url.params.get("format") == "json":
            return httpx.Response(200, json=load(clusters))
        if request.url.path == "/stats" and stats is not None:
            assert "outlier_detection" in request.url.params["filter"]
            return httpx.Response(200, json=load(stats))
        return httpx.Response(404, text="invalid path")

    return handle


async def test_every_connected_node_at_once_unreachable_ones_marked() -> None:
    healthy = envoy_admin()
    no_stats = envoy_admin(stats=None)

    async def handle(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host == "slow":
            await asyncio.sleep(5)
        if host == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        if host == "broken":
            return httpx.Response(500, text="oops")
        if host == "html":
            return httpx.Response(200, text="<html>")
        return (no_stats if host == "nostats" else healthy)(request)

    client = EnvoyAdminClient(timeout_s=0.3, transport=httpx.MockTransport(handle))
    nodes = [
        node("e-ok", "http://ok:9901/"),
        node("e-slow", "http://slow:9901"),
        node("e-refused", "http://refused:9901"),
        node("e-broken", "http://broken:9901"),
        node("e-html", "http://html:9901"),
        node("e-nostats", "http://nostats:9901"),
        node("e-old", ""),
        node("e-gone", "http://ok:9901", connected=False),
    ]
    started = asyncio.get_running_loop().time()
    health = {h.node_id: h for h in await client.nodes_health(nodes, registry(PORT_EJECTED))}
    assert asyncio.get_running_loop().time() - started < 2.0  # one timeout, not one per node
    assert list(health) == sorted(n.node_id for n in nodes if n.connected)
    ok = health["e-ok"]
    assert (ok.reachable, ok.admin_url, ok.error) == (True, "http://ok:9901", "")
    pair = by_model(ok.clusters)["pair"]
    assert by_backend(pair)["dead"].state is HostState.UNHEALTHY
    assert (pair.upstream_rq_retry, pair.ejections_active, pair.ejections_enforced_total) == (12, 2, 4)
    assert [
        (h.reachable, h.error) for h in (health[n] for n in ("e-slow", "e-refused", "e-broken", "e-html"))
    ] == [
        (False, "timed out"),
        (False, "connection refused or unreachable"),
        (False, "admin API answered 500"),
        (False, "admin API answered something that is not JSON"),
    ]
    assert health["e-old"] == health["e-old"].model_copy(
        update={"reachable": False, "error": "the node advertises no admin URL", "clusters": ()}
    )
    nostats = by_model(health["e-nostats"].clusters)["pair"]  # hosts still shown, counters unknown
    assert health["e-nostats"].reachable
    assert len(nostats.hosts) == 3
    assert nostats.upstream_rq_retry is None


async def test_one_node() -> None:
    client = EnvoyAdminClient(transport=httpx.MockTransport(envoy_admin("envoy_clusters.json")))
    health = await client.node_health("http://envoy:9901", registry(PORT_PLAIN), node_id="envoy-1")
    assert health.reachable
    assert [c.model for c in health.clusters] == ["demo", "org/m:1.5@x+y", "pair"]
    assert health.model_dump(mode="json")["clusters"][2]["hosts"][1]["backend"] == "dead"

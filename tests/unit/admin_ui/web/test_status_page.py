"""/ui/status: the Envoy nodes (ACKed versions per resource type, last NACK) and backend health from a
fake BackendHealthPort, with the empty state and the guards."""

from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from control_plane.model import (
    AdminRole,
    Backend,
    ClusterHealth,
    HostHealth,
    HostState,
    Model,
    NodeHealth,
    NodeStatus,
    Plan,
    Snapshot,
    Tenant,
)
from control_plane.model.xds_status import Nack, ResourceStatus
from tests.support.fakes import AdminHarness
from tests.support.ops_ui import browser_for
from tests.support.ui_pages import sign_in

AT = datetime(2026, 11, 21, 11, 58, 7, tzinfo=UTC)


class FakeBackendHealth:
    """A BackendHealthPort: `envoy-b` does not answer; every other connected node reports `health`."""

    def __init__(self) -> None:
        self.asked: list[tuple[list[str], int]] = []

    async def nodes_health(self, nodes: Sequence[NodeStatus], snapshot: Snapshot) -> list[NodeHealth]:
        self.asked.append(([n.node_id for n in nodes], snapshot.version))
        out = []
        for node in nodes:
            if not node.connected:
                continue
            if node.node_id == "envoy-b":
                out.append(NodeHealth(node_id=node.node_id, reachable=False, error="connection refused"))
                continue
            hosts = (
                HostHealth(
                    backend="alive", address="10.0.0.1:8000", rq_total=12_345, rq_error=7, success_rate=99.5
                ),
                HostHealth(
                    backend="dead",
                    address="10.0.0.2:8000",
                    state=HostState.UNHEALTHY,
                    flags=("failed_outlier_check",),
                    rq_total=100,
                    rq_error=60,
                ),
            )
            out.append(
                NodeHealth(
                    node_id=node.node_id,
                    reachable=True,
                    clusters=(ClusterHealth(model="pair", cluster="model.pair", hosts=hosts),),
                )
            )
        return out


def _nodes() -> list[NodeStatus]:
    return [
        NodeStatus(
            node_id="envoy-a",
            cluster="gateway",
            connected=True,
            connected_at=AT,
            updated_at=AT,
            resources={
                "cds": ResourceStatus(sent_version="v3", acked_version="v3"),
                "eds": ResourceStatus(sent_version="v3.2", acked_version="v3"),
                "lds": ResourceStatus(
                    sent_version="v3",
                    acked_version="v2",
                    last_nack=Nack(version="v3", message="bad filter: <route> missing", at=AT),
                ),
            },
        ),
        NodeStatus(node_id="envoy-b", connected=True, connected_at=AT, updated_at=AT),
        NodeStatus(node_id="envoy-old", connected=False, connected_at=AT, updated_at=AT),
    ]


async def test_nodes_versions_nacks_and_backend_health(
    app: FastAPI, client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await harness.registry.put_model(
        Model(name="pair", backends=(Backend(name="alive", base_url="http://a/v1"),))
    )
    harness.xds_status.nodes = _nodes()
    health = FakeBackendHealth()
    app.state.backend_health = health
    await sign_in(client)
    response = await client.get("/ui/status")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Control-plane status</h1>" in html
    assert health.asked == [(["envoy-a", "envoy-b", "envoy-old"], 1)]
    nodes = html.split('id="nodes"')[1].split("</table>")[0]
    a = nodes.split('<tr data-node="envoy-a">')[1].split("</tr>")[0]
    assert '<th scope="col">CDS</th>' in nodes
    assert '<th scope="col">LDS</th>' in nodes
    assert '<code>v3</code> <span class="badge ok">current</span>' in a
    assert '<span class="badge warn">sent v3.2</span>' in a
    assert '<span class="badge bad">LDS v3 rejected</span>' in a
    assert "bad filter: &lt;route&gt; missing" in a  # Envoy's text, escaped
    assert "2026-11-21 11:58:07 UTC" in a
    assert "cluster gateway" in a
    old = nodes.split('<tr data-node="envoy-old">')[1].split("</tr>")[0]
    assert '<span class="badge warn">disconnected</span>' in old
    assert nodes.index("envoy-b") < nodes.index("envoy-old")  # connected first
    table = html.split('id="backend-health"')[1].split("</table>")[0]
    alive = table.split('data-backend="alive"')[1].split("</tr>")[0]
    assert '<span class="badge ok">healthy</span>' in alive
    assert "12,345" in alive
    assert "99.5 %" in alive
    dead = table.split('data-backend="dead"')[1].split("</tr>")[0]
    assert '<span class="badge bad">unhealthy</span>' in dead
    assert "failed_outlier_check" in dead
    b = table.split('<tr data-node="envoy-b"')[1].split("</tr>")[0]
    assert "unreachable: connection refused" in b


async def test_no_node_yet_shows_the_empty_state(app: FastAPI, client: httpx.AsyncClient) -> None:
    app.state.backend_health = FakeBackendHealth()
    await sign_in(client)
    response = await client.get("/ui/status")
    assert response.status_code == 200
    assert "No Envoy node has connected yet." in response.text
    assert 'id="nodes"' not in response.text
    assert 'id="backend-health"' not in response.text


async def test_viewers_read_it_tenant_users_do_not(app: FastAPI, harness: AdminHarness) -> None:
    app.state.backend_health = FakeBackendHealth()
    harness.xds_status.nodes = _nodes()
    async with browser_for(app, harness, "vera", AdminRole.VIEWER) as (viewer, _):
        assert (await viewer.get("/ui/status")).status_code == 200
    await harness.registry.put_plan(Plan(name="basic"))
    await harness.registry.put_tenant(Tenant(id="acme", plan="basic"))
    async with browser_for(app, harness, "tina", AdminRole.TENANT, "acme") as (tenant, _):
        response = await tenant.get("/ui/status")
        assert response.status_code == 403
        assert "envoy-a" not in response.text

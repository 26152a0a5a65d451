"""Control-plane status at /ui/status: every Envoy node the xDS server has seen (connected or not, when
last seen), per resource type the version it ACKed and whether that is what it was last sent, its last
NACK (the version and Envoy's error text), and the health of every model backend as each connected
node's admin API reports it (read exactly as `GET /admin/v1/status/backends` does).

A type's version (`v<registry version>[.n]`) changes only when that type's content changes, so a node
is current for a type when its ACKed version is the one the xDS server last sent it, not when it equals
the registry's version number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from admin_ui.ports import BackendHealthPort
from admin_ui.web.context import PageServices, render
from admin_ui.web.formatting import count, utc_text
from admin_ui.web.guards import Operator, UiRoute
from control_plane.model import NodeHealth, NodeStatus
from control_plane.model.backend_health import HostState
from control_plane.model.xds_status import ResourceStatus

__all__ = [
    "HostRow",
    "NackLine",
    "NodeRow",
    "ResourceCell",
    "health_rows",
    "node_rows",
    "resource_types",
    "router",
]

router = APIRouter(route_class=UiRoute)

_TYPE_ORDER = ("cds", "eds", "lds", "rds")
_STATE_BADGE = {
    HostState.HEALTHY: "ok",
    HostState.DEGRADED: "warn",
    HostState.EXCLUDED: "warn",
    HostState.UNHEALTHY: "bad",
}


@dataclass(frozen=True, slots=True)
class ResourceCell:
    """One resource type on one node: the ACKed version and how it compares with what was sent."""

    acked: str
    sent: str
    badge: str
    label: str


@dataclass(frozen=True, slots=True)
class NackLine:
    """A resource type's last rejected version, Envoy's reason and when."""

    type: str
    version: str
    message: str
    at: str


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One Envoy node's line of the `#nodes` table."""

    node_id: str
    cluster: str
    connected: bool
    connected_at: str
    last_seen: str
    xds_instance: str
    cells: tuple[ResourceCell | None, ...]
    nacks: tuple[NackLine, ...]


@dataclass(frozen=True, slots=True)
class HostRow:
    """One backend of one model on one node (or, with `error`, a node whose admin API did not answer)."""

    node_id: str
    model: str = ""
    backend: str = ""
    address: str = ""
    priority: str = ""
    weight: str = ""
    state: str = ""
    badge: str = ""
    flags: str = ""
    requests: str = ""
    errors: str = ""
    success_rate: str = ""
    error: str = ""
    first_of_node: bool = False


def resource_types(nodes: Sequence[NodeStatus]) -> list[str]:
    """Every resource type any node reports, xDS's order first (cds, eds, lds, rds), then the rest."""
    seen = {name for node in nodes for name in node.resources}
    return [t for t in _TYPE_ORDER if t in seen] + sorted(seen - set(_TYPE_ORDER))


def _cell(resource: ResourceStatus) -> ResourceCell:
    acked, sent = resource.acked_version, resource.sent_version
    if acked and acked == sent:
        return ResourceCell(acked, sent, "ok", "current")
    if not acked:
        return ResourceCell("—", sent, "warn", "no ACK yet")
    return ResourceCell(acked, sent, "warn", f"sent {sent}" if sent else "behind")


def node_rows(nodes: Sequence[NodeStatus], types: Sequence[str]) -> list[NodeRow]:
    """The `#nodes` rows, connected nodes first, then by node id."""
    rows = []
    for node in sorted(nodes, key=lambda n: (not n.connected, n.node_id)):
        cells = tuple(_cell(node.resources[t]) if t in node.resources else None for t in types)
        nacks = tuple(
            NackLine(t, r.last_nack.version, r.last_nack.message, utc_text(r.last_nack.at))
            for t, r in sorted(node.resources.items())
            if r.last_nack is not None
        )
        rows.append(
            NodeRow(
                node_id=node.node_id,
                cluster=node.cluster,
                connected=node.connected,
                connected_at=utc_text(node.connected_at),
                last_seen=utc_text(node.updated_at),
                xds_instance=node.xds_instance,
                cells=cells,
                nacks=nacks,
            )
        )
    return rows


def health_rows(health: Sequence[NodeHealth]) -> list[HostRow]:
    """The `#backend-health` rows: per node, each model cluster's hosts (or why none could be read)."""
    rows: list[HostRow] = []
    for node in health:
        if not node.reachable:
            error = node.error or "its admin API did not answer"
            rows.append(HostRow(node.node_id, error=f"unreachable: {error}", first_of_node=True))
            continue
        first = True
        for cluster in node.clusters:
            if not cluster.hosts:
                rows.append(HostRow(node.node_id, model=cluster.model, error="no hosts", first_of_node=first))
                first = False
            for host in cluster.hosts:
                rows.append(
                    HostRow(
                        node_id=node.node_id,
                        model=cluster.model,
                        backend=host.backend or "—",
                        address=host.address,
                        priority=str(host.priority),
                        weight=count(host.weight),
                        state=host.state.value,
                        badge=_STATE_BADGE[host.state],
                        flags=", ".join(host.flags) or "—",
                        requests=count(host.rq_total),
                        errors=count(host.rq_error + host.rq_timeout),
                        success_rate="—" if host.success_rate is None else f"{host.success_rate:.1f} %",
                        first_of_node=first,
                    )
                )
                first = False
        if first:
            rows.append(HostRow(node.node_id, error="no model clusters", first_of_node=True))
    return rows


@router.get("/status")
async def status_page(request: Request, session: Operator, services: PageServices) -> Response:
    """The Envoy nodes and what they run, and backend health as the connected nodes see it."""
    snapshot = await services.registry.snapshot()
    nodes = await services.xds_status.all()
    backend_health: BackendHealthPort = request.app.state.backend_health
    health = await backend_health.nodes_health(nodes, snapshot)
    types = resource_types(nodes)
    context = {
        "registry_version": snapshot.version,
        "models": len(snapshot.models),
        "connected": sum(1 for n in nodes if n.connected),
        "types": types,
        "nodes": node_rows(nodes, types),
        "health": health_rows(health),
    }
    return render(request, "status.html", context, session=session)

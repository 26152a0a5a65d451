"""/admin/v1/status: registry version and what every Envoy node accepted (ACK) or rejected (NACK).

/admin/v1/status/backends: every model backend's health as each connected Envoy node sees it, read from
the node's admin API (the URL it advertised in its xDS node metadata) with a short timeout; a node that
does not answer is listed as unreachable.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from admin_ui.deps import AdminAuth, RegistryDep, XdsStatusDep
from admin_ui.ports import BackendHealthPort
from admin_ui.schemas import BackendHealthPublic, StatusPublic

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/status", tags=["status"], dependencies=[AdminAuth])


@router.get("")
async def get_status(registry: RegistryDep, xds_status: XdsStatusDep) -> StatusPublic:
    snapshot = await registry.snapshot()
    nodes = await xds_status.all()
    return StatusPublic(registry_version=snapshot.version, models=len(snapshot.models), envoy_nodes=nodes)


def _backend_health(request: Request) -> BackendHealthPort:
    health: BackendHealthPort = request.app.state.backend_health
    return health


BackendHealthDep = Annotated[BackendHealthPort, Depends(_backend_health)]


@router.get("/backends")
async def get_backend_health(
    registry: RegistryDep, xds_status: XdsStatusDep, health: BackendHealthDep
) -> BackendHealthPublic:
    snapshot = await registry.snapshot()
    nodes = await health.nodes_health(await xds_status.all(), snapshot)
    return BackendHealthPublic(registry_version=snapshot.version, nodes=nodes)

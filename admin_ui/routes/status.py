"""/admin/v1/status: registry version and what every Envoy node accepted (ACK) or rejected (NACK)."""

from __future__ import annotations

from fastapi import APIRouter

from admin_ui.deps import AdminAuth, RegistryDep, XdsStatusDep
from admin_ui.schemas import StatusPublic

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/status", tags=["status"], dependencies=[AdminAuth])


@router.get("")
async def get_status(registry: RegistryDep, xds_status: XdsStatusDep) -> StatusPublic:
    snapshot = await registry.snapshot()
    nodes = await xds_status.all()
    return StatusPublic(registry_version=snapshot.version, models=len(snapshot.models), envoy_nodes=nodes)

"""/admin/v1/tenants: list, read, create-or-replace and delete tenants."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from admin_ui.deps import AdminAuth, RegistryDep
from admin_ui.schemas import TenantList, TenantPublic, WriteResult
from control_plane.model import Tenant

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/tenants", tags=["tenants"], dependencies=[AdminAuth])


@router.get("")
async def list_tenants(registry: RegistryDep) -> TenantList:
    snapshot = await registry.snapshot()
    return TenantList(version=snapshot.version, tenants=[TenantPublic.of(t) for t in snapshot.spec.tenants])


@router.get("/{tenant_id}")
async def get_tenant(tenant_id: str, registry: RegistryDep) -> TenantPublic:
    tenant = (await registry.snapshot()).spec.tenant(tenant_id)
    if tenant is None:
        raise HTTPException(status_code=404, detail=f"tenant {tenant_id!r} is not in the registry")
    return TenantPublic.of(tenant)


@router.put("/{tenant_id}")
async def put_tenant(tenant_id: str, tenant: Tenant, registry: RegistryDep) -> WriteResult:
    """Create the tenant or replace it; its plan must exist."""
    if tenant.id != tenant_id:
        raise HTTPException(
            status_code=422, detail=f"the body names tenant {tenant.id!r}, the URL {tenant_id!r}"
        )
    result = await registry.put_tenant(tenant)
    return WriteResult(version=result.snapshot.version, changed=result.changed)


@router.delete("/{tenant_id}")
async def delete_tenant(tenant_id: str, registry: RegistryDep) -> WriteResult:
    """Delete a tenant; its keys stop working (the gateway finds no tenant for them)."""
    result = await registry.remove_tenant(tenant_id)
    return WriteResult(version=result.snapshot.version, changed=result.changed)

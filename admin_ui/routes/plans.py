"""/admin/v1/plans: list, read, create-or-replace and delete plans."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from admin_ui.deps import AdminAuth, RegistryDep
from admin_ui.schemas import PlanList, WriteResult
from control_plane.model import Plan

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/plans", tags=["plans"], dependencies=[AdminAuth])


@router.get("")
async def list_plans(registry: RegistryDep) -> PlanList:
    snapshot = await registry.snapshot()
    return PlanList(version=snapshot.version, plans=list(snapshot.spec.plans))


@router.get("/{name}")
async def get_plan(name: str, registry: RegistryDep) -> Plan:
    plan = (await registry.snapshot()).spec.plan(name)
    if plan is None:
        raise HTTPException(status_code=404, detail=f"plan {name!r} is not in the registry")
    return plan


@router.put("/{name}")
async def put_plan(name: str, plan: Plan, registry: RegistryDep) -> WriteResult:
    """Create the plan or replace it (tenants on it get the new limits and billing at once)."""
    if plan.name != name:
        raise HTTPException(status_code=422, detail=f"the body names plan {plan.name!r}, the URL {name!r}")
    result = await registry.put_plan(plan)
    return WriteResult(version=result.snapshot.version, changed=result.changed)


@router.delete("/{name}")
async def delete_plan(name: str, registry: RegistryDep) -> WriteResult:
    """Delete a plan; refused (422) while any tenant uses it."""
    result = await registry.remove_plan(name)
    return WriteResult(version=result.snapshot.version, changed=result.changed)

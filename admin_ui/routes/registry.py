"""/admin/v1/registry: the whole registry at once (what `tollway apply -f` sends)."""

from __future__ import annotations

from fastapi import APIRouter

from admin_ui.deps import AdminAuth, RegistryDep
from admin_ui.schemas import RegistryPublic, WriteResult
from control_plane.model import RegistrySpec

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/registry", tags=["registry"], dependencies=[AdminAuth])


@router.get("")
async def get_registry(registry: RegistryDep) -> RegistryPublic:
    snapshot = await registry.snapshot()
    return RegistryPublic(version=snapshot.version, spec=snapshot.spec)


@router.put("")
async def apply_registry(spec: RegistrySpec, registry: RegistryDep) -> WriteResult:
    """Make the registry equal the body; applying the same body twice changes nothing."""
    result = await registry.apply(spec)
    return WriteResult(version=result.snapshot.version, changed=result.changed)

"""/admin/v1/registry: the whole registry, or some of its sections at once (what `tollway apply -f` sends)."""

from __future__ import annotations

from fastapi import APIRouter

from admin_ui.deps import AdminAuth, RegistryDep
from admin_ui.schemas import RegistryPublic, RegistrySpecPublic, WriteResult
from control_plane.registry import RegistryDocument

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/registry", tags=["registry"], dependencies=[AdminAuth])


@router.get("")
async def get_registry(registry: RegistryDep) -> RegistryPublic:
    """The whole registry; credentials are shown masked (name, header, hint), never sealed or clear."""
    snapshot = await registry.snapshot()
    return RegistryPublic(version=snapshot.version, spec=RegistrySpecPublic.of(snapshot.spec))


@router.put("")
async def apply_registry(document: RegistryDocument, registry: RegistryDep) -> WriteResult:
    """Replace the sections (`models`, `plans`, `tenants`, `prices`) the body contains and keep the
    others; a section given as `[]` is emptied. Applying the same body twice changes nothing."""
    result = await registry.apply(document)
    return WriteResult(version=result.snapshot.version, changed=result.changed)

"""/admin/v1/models: list, read, create-or-replace and delete models."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from admin_ui.deps import AdminAuth, RegistryDep
from admin_ui.schemas import ModelList, WriteResult
from control_plane.model import Model

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/models", tags=["models"], dependencies=[AdminAuth])


@router.get("")
async def list_models(registry: RegistryDep) -> ModelList:
    snapshot = await registry.snapshot()
    return ModelList(version=snapshot.version, models=list(snapshot.models))


@router.get("/{name:path}")
async def get_model(name: str, registry: RegistryDep) -> Model:
    model = (await registry.snapshot()).spec.model(name)
    if model is None:
        raise HTTPException(status_code=404, detail=f"model {name!r} is not in the registry")
    return model


@router.put("/{name:path}")
async def put_model(name: str, model: Model, registry: RegistryDep) -> WriteResult:
    if model.name != name:
        raise HTTPException(status_code=422, detail=f"the body names model {model.name!r}, the URL {name!r}")
    result = await registry.put_model(model)
    return WriteResult(version=result.snapshot.version, changed=result.changed)


@router.delete("/{name:path}")
async def delete_model(name: str, registry: RegistryDep) -> WriteResult:
    result = await registry.remove_model(name)
    return WriteResult(version=result.snapshot.version, changed=result.changed)

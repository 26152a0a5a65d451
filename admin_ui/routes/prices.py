"""/admin/v1/prices: model prices, one version per (model, effective_from)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime

from admin_ui.deps import AdminAuth, RegistryDep
from admin_ui.schemas import PriceList, WriteResult
from control_plane.model import Price

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/prices", tags=["prices"], dependencies=[AdminAuth])


@router.get("")
async def list_prices(
    registry: RegistryDep, model: Annotated[str | None, Query(description="only this model")] = None
) -> PriceList:
    snapshot = await registry.snapshot()
    prices = [p for p in snapshot.spec.prices if model is None or p.model == model]
    return PriceList(version=snapshot.version, prices=prices)


@router.get("/{model:path}")
async def get_prices(model: str, registry: RegistryDep) -> PriceList:
    """Every price version of one model, oldest first."""
    snapshot = await registry.snapshot()
    prices = sorted((p for p in snapshot.spec.prices if p.model == model), key=lambda p: p.effective_from)
    if not prices:
        raise HTTPException(status_code=404, detail=f"model {model!r} has no price")
    return PriceList(version=snapshot.version, prices=prices)


@router.put("/{model:path}")
async def put_price(model: str, price: Price, registry: RegistryDep) -> WriteResult:
    """Add a price version, or replace the version with the same `effective_from`."""
    if price.model != model:
        raise HTTPException(
            status_code=422, detail=f"the body names model {price.model!r}, the URL {model!r}"
        )
    result = await registry.put_price(price)
    return WriteResult(version=result.snapshot.version, changed=result.changed)


@router.delete("/{model:path}")
async def delete_price(
    model: str,
    registry: RegistryDep,
    effective_from: Annotated[AwareDatetime, Query(description="the version to delete (ISO 8601)")],
) -> WriteResult:
    result = await registry.remove_price(model, effective_from)
    return WriteResult(version=result.snapshot.version, changed=result.changed)

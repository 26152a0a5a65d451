"""/admin/v1/keys: API keys. The secret is in the create/rotate response only, exactly once."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from admin_ui.deps import AdminAuth, KeysDep
from admin_ui.schemas import KeyCreate, KeyList, KeyPublic, KeyRotate, KeySecret

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/keys", tags=["keys"], dependencies=[AdminAuth])


@router.post("", status_code=201)
async def create_key(body: KeyCreate, keys: KeysDep) -> KeySecret:
    """Issue a key for a tenant. The response carries the secret; it cannot be retrieved again."""
    expires_at = body.expires_at
    if body.expires_in_s is not None:
        expires_at = keys.now() + timedelta(seconds=body.expires_in_s)
    key, secret = await keys.create(body.tenant, body.name, body.allowed_models, expires_at)
    return KeySecret(key=KeyPublic.of(key, keys.now()), secret=secret)


@router.get("")
async def list_keys(
    keys: KeysDep, tenant: Annotated[str | None, Query(description="only this tenant's keys")] = None
) -> KeyList:
    now = keys.now()
    return KeyList(keys=[KeyPublic.of(k, now) for k in await keys.list(tenant)])


@router.get("/{key_id}")
async def get_key(key_id: str, keys: KeysDep) -> KeyPublic:
    return KeyPublic.of(await keys.get(key_id), keys.now())


@router.post("/{key_id}/revoke")
async def revoke_key(key_id: str, keys: KeysDep) -> KeyPublic:
    """Revoke at once (idempotent); the gateway refuses the key within its cache's pub/sub latency."""
    return KeyPublic.of(await keys.revoke(key_id), keys.now())


@router.post("/{key_id}/rotate", status_code=201)
async def rotate_key(key_id: str, body: KeyRotate, keys: KeysDep) -> KeySecret:
    """Issue a replacement key (same tenant, name, models, expiry); the old key keeps working for
    `grace_s` seconds. The response carries the new secret, once."""
    new, secret = await keys.rotate(key_id, timedelta(seconds=body.grace_s))
    now = keys.now()
    previous = await keys.get(key_id)
    return KeySecret(key=KeyPublic.of(new, now), secret=secret, previous=KeyPublic.of(previous, now))

"""/admin/v1/.../cache: response-cache counters per tenant, and purges of a tenant's or a shared namespace.

A purge bumps the namespace's generation: what was cached before stops being served at once, on every
replica, and expires by its TTL (see control_plane.cache_admin).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from admin_ui.deps import AdminAuth, CacheDep, RegistryDep
from admin_ui.ports import RegistryPort
from admin_ui.schemas import CachePurged, CacheStatsList
from control_plane.errors import RegistryNotFoundError
from control_plane.keys import cache_namespace
from control_plane.model import CacheNamespace, CacheStats

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1", tags=["cache"], dependencies=[AdminAuth])


async def _existing_tenant(registry: RegistryPort, tenant_id: str) -> str:
    tenant = (await registry.snapshot()).spec.tenant(tenant_id)
    if tenant is None:
        raise RegistryNotFoundError(f"tenant {tenant_id!r} is not in the registry")
    return tenant.id


@router.get("/tenants/{tenant_id}/cache")
async def get_tenant_cache_stats(tenant_id: str, registry: RegistryDep, cache: CacheDep) -> CacheStats:
    """The tenant's cache counters since they were last reset: hits per layer, misses, bypasses, answers
    stored, and what hits saved (tokens; cost in pico- and micro-units)."""
    return await cache.stats(await _existing_tenant(registry, tenant_id))


@router.post("/tenants/{tenant_id}/cache/stats/reset")
async def reset_tenant_cache_stats(tenant_id: str, registry: RegistryDep, cache: CacheDep) -> CacheStats:
    """Zero the tenant's cache counters (cached answers are kept); the counters after the reset."""
    tenant = await _existing_tenant(registry, tenant_id)
    await cache.reset_stats(tenant)
    return await cache.stats(tenant)


@router.post("/tenants/{tenant_id}/cache/purge", response_model_exclude_none=True)
async def purge_tenant_cache(tenant_id: str, registry: RegistryDep, cache: CacheDep) -> CachePurged:
    """Invalidate every answer cached in the tenant's own namespace. Shared namespaces the tenant uses
    are not touched: purge them with `POST /admin/v1/cache/namespaces/{name}/purge`."""
    tenant = await _existing_tenant(registry, tenant_id)
    generation = await cache.purge_tenant(tenant)
    return CachePurged(tenant=tenant, namespace=cache_namespace(tenant), generation=generation)


@router.post("/cache/namespaces/{name}/purge", response_model_exclude_none=True)
async def purge_shared_namespace(
    name: Annotated[
        CacheNamespace, Path(description="the shared namespace's name, as set in cache policies")
    ],
    cache: CacheDep,
) -> CachePurged:
    """Invalidate every answer cached in the shared namespace `name`, for every tenant that uses it."""
    generation = await cache.purge_namespace(name)
    return CachePurged(namespace=cache_namespace("", shared=name), generation=generation)


@router.get("/cache/stats")
async def list_cache_stats(registry: RegistryDep, cache: CacheDep) -> CacheStatsList:
    """The cache counters of every tenant in the registry."""
    snapshot = await registry.snapshot()
    stats = await cache.stats_many([tenant.id for tenant in snapshot.spec.tenants])
    return CacheStatsList(version=snapshot.version, tenants=stats)

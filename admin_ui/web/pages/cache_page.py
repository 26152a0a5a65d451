"""The response cache at /ui/cache: per-tenant counters (hits per layer, misses, bypasses, hit rate,
answers stored, what hits saved), the shared namespaces tenants opted into, and the admin's forms to
purge a tenant's cache, purge a shared namespace and reset a tenant's counters.

The tenant table is paged over the registry's tenants; counters are read (`CachePort.stats_many`) for
the shown page's tenants only, so a registry of 10,000 tenants costs one small pipeline per page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from pydantic import TypeAdapter, ValidationError
from starlette.responses import RedirectResponse, Response

from admin_ui.ports import CachePort
from admin_ui.web.context import UI_PATH, PageServices, render
from admin_ui.web.formatting import count, done_notice, money_pico, percent, whole
from admin_ui.web.guards import AdminForm, Operator, UiError, UiRoute
from admin_ui.web.pages.lookup import tenant_or_404
from admin_ui.web.paging import DEFAULT_PER_PAGE, paginate
from control_plane.model import CacheNamespace, CacheStats, Snapshot, Tenant
from control_plane.model.cache_policy import resolve_cache_policy

__all__ = ["CacheRow", "NamespaceRow", "cache_rows", "router", "shared_namespaces"]

router = APIRouter(route_class=UiRoute)

PATH = f"{UI_PATH}/cache"
NOT_CONFIGURED = "The response cache is not configured on this server."
DONE = {
    "tenant-purged": "The tenant's cache was purged: its earlier answers are no longer served.",
    "namespace-purged": "The shared namespace was purged for every tenant that uses it.",
    "reset": "The tenant's cache counters were reset to zero.",
}
_NAMESPACE = TypeAdapter(CacheNamespace)


@dataclass(frozen=True, slots=True)
class CacheRow:
    """One tenant's line of the table, formatted for reading."""

    tenant: str
    policy: str
    enabled: bool
    namespace: str | None
    hits_exact: str
    hits_semantic: str
    misses: str
    bypasses: str
    hit_rate: str
    stored: str
    saved_tokens: str
    saved_cost: str


@dataclass(frozen=True, slots=True)
class NamespaceRow:
    """A shared namespace and the tenants that opted into it."""

    name: str
    tenants: tuple[str, ...]


def _policy(snapshot: Snapshot, tenant: Tenant) -> tuple[bool, str]:
    """Whether caching is on for the tenant (plan and tenant policy, before any model veto) and how."""
    plan = snapshot.spec.plan(tenant.plan)
    settings = resolve_cache_policy(plan.cache if plan else None, tenant.cache, None)
    if not settings.enabled:
        return False, "off"
    layers = ", ".join(sorted(layer.value for layer in settings.layers))
    return True, f"on ({layers})"


def _row(snapshot: Snapshot, tenant: Tenant, stats: CacheStats) -> CacheRow:
    enabled, policy = _policy(snapshot, tenant)
    return CacheRow(
        tenant=tenant.id,
        policy=policy,
        enabled=enabled,
        namespace=tenant.cache.namespace if tenant.cache else None,
        hits_exact=count(stats.hits_exact),
        hits_semantic=count(stats.hits_semantic),
        misses=count(stats.misses),
        bypasses=count(stats.bypasses),
        hit_rate=percent(stats.hit_rate) if stats.hits + stats.misses else "—",
        stored=count(stats.stored),
        saved_tokens=count(stats.saved_prompt_tokens + stats.saved_completion_tokens),
        saved_cost=money_pico(stats.saved_cost_pico),
    )


def cache_rows(snapshot: Snapshot, tenants: Sequence[Tenant], stats: Sequence[CacheStats]) -> list[CacheRow]:
    """The table's rows: each tenant with its counters (`stats` in the same order)."""
    return [_row(snapshot, tenant, s) for tenant, s in zip(tenants, stats, strict=True)]


def _totals(stats: Sequence[CacheStats]) -> list[tuple[str, str]]:
    hits = sum(s.hits for s in stats)
    misses = sum(s.misses for s in stats)
    return [
        ("Hits (exact)", count(sum(s.hits_exact for s in stats))),
        ("Hits (semantic)", count(sum(s.hits_semantic for s in stats))),
        ("Misses", count(misses)),
        ("Bypasses", count(sum(s.bypasses for s in stats))),
        ("Hit rate", percent(hits / (hits + misses)) if hits + misses else "—"),
        ("Answers stored", count(sum(s.stored for s in stats))),
        ("Tokens saved", count(sum(s.saved_prompt_tokens + s.saved_completion_tokens for s in stats))),
        ("Cost saved", money_pico(sum(s.saved_cost_pico for s in stats))),
    ]


def shared_namespaces(snapshot: Snapshot) -> list[NamespaceRow]:
    """Every shared namespace a tenant's cache policy names (only tenants opt in), by name."""
    users: dict[str, list[str]] = {}
    for tenant in snapshot.spec.tenants:
        if tenant.cache is not None and tenant.cache.namespace is not None:
            users.setdefault(tenant.cache.namespace, []).append(tenant.id)
    return [NamespaceRow(name, tuple(sorted(ids))) for name, ids in sorted(users.items())]


def _cache(services: PageServices) -> CachePort:
    if services.cache is None:
        raise UiError(503, "Cache not configured", NOT_CONFIGURED)
    return services.cache


def _back(page: int, done: str) -> RedirectResponse:
    query = f"page={page}&done={done}" if page > 1 else f"done={done}"
    return RedirectResponse(f"{PATH}?{query}", status_code=303)


@router.get("/cache")
async def cache_page(
    request: Request,
    session: Operator,
    services: PageServices,
    page: str = "1",
    per_page: str = "",
    done: str | None = None,
) -> Response:
    """The cache's counters for one page of tenants, the totals of that page, the shared namespaces."""
    context: dict[str, object] = {"configured": services.cache is not None, "notice": done_notice(done, DONE)}
    if services.cache is None:
        return render(request, "cache.html", context, session=session)
    snapshot = await services.registry.snapshot()
    tenants = sorted(snapshot.spec.tenants, key=lambda t: t.id)
    shown, pager = paginate(
        tenants, page=whole(page, 1), per_page=whole(per_page, DEFAULT_PER_PAGE), path=PATH
    )
    stats = await services.cache.stats_many([t.id for t in shown])
    context.update(
        rows=cache_rows(snapshot, shown, stats),
        totals=_totals(stats),
        all_on_page=pager.pages == 1,
        pager=pager,
        namespaces=shared_namespaces(snapshot),
    )
    return render(request, "cache.html", context, session=session)


@router.post("/cache/tenants/{tenant_id}/purge")
async def purge_tenant(
    tenant_id: str, session: AdminForm, services: PageServices, page: str = "1"
) -> Response:
    """Invalidate every answer cached in the tenant's own namespace (shared namespaces untouched)."""
    cache = _cache(services)
    tenant, _ = await tenant_or_404(services, tenant_id)
    await cache.purge_tenant(tenant.id)
    return _back(whole(page, 1), "tenant-purged")


@router.post("/cache/tenants/{tenant_id}/reset")
async def reset_tenant(
    tenant_id: str, session: AdminForm, services: PageServices, page: str = "1"
) -> Response:
    """Zero the tenant's cache counters (cached answers are kept)."""
    cache = _cache(services)
    tenant, _ = await tenant_or_404(services, tenant_id)
    await cache.reset_stats(tenant.id)
    return _back(whole(page, 1), "reset")


@router.post("/cache/namespaces/{name}/purge")
async def purge_namespace(name: str, session: AdminForm, services: PageServices, page: str = "1") -> Response:
    """Invalidate every answer cached in the shared namespace `name`, for every tenant using it."""
    cache = _cache(services)
    try:
        valid = _NAMESPACE.validate_python(name)
    except ValidationError:
        raise UiError(404, "Not found", "There is no such cache namespace.") from None
    await cache.purge_namespace(valid)
    return _back(whole(page, 1), "namespace-purged")

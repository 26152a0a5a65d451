"""In-memory fake of the admin API's CachePort (control_plane.cache_admin.CacheAdmin), for API and CLI
tests: counters per tenant, a generation per namespace, and the purges in order."""

from collections.abc import Sequence

from control_plane.keys import cache_namespace
from control_plane.model import CacheStats

__all__ = ["MemoryCacheAdmin"]


class MemoryCacheAdmin:
    def __init__(self) -> None:
        self.counters: dict[str, dict[str, int]] = {}
        self.generations: dict[str, int] = {}
        self.purged: list[str] = []  # namespaces, in purge order

    async def stats(self, tenant: str) -> CacheStats:
        return CacheStats(tenant=tenant, **self.counters.get(tenant, {}))

    async def stats_many(self, tenants: Sequence[str]) -> list[CacheStats]:
        return [await self.stats(tenant) for tenant in tenants]

    async def reset_stats(self, tenant: str) -> None:
        self.counters.pop(tenant, None)

    async def purge_tenant(self, tenant: str) -> int:
        return self._purge(cache_namespace(tenant))

    async def purge_namespace(self, name: str) -> int:
        return self._purge(cache_namespace("", shared=name))

    def _purge(self, namespace: str) -> int:
        self.generations[namespace] = self.generations.get(namespace, 0) + 1
        self.purged.append(namespace)
        return self.generations[namespace]

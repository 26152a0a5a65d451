"""The operator side of the response cache: read and reset a tenant's counters, purge a namespace.

A purge never deletes entries: it `INCR`s the namespace's generation (`tw:{c:<namespace>}:gen`), so
every entry stored under an older generation stops matching at once (ext_proc re-reads the generation
before serving an entry) and expires by its TTL. It then appends a `NamespacePurged` event to the cache
feed so every ext_proc replica drops the namespace's vectors from its local index. The two keys live in
different Cluster slots, so they are two commands: the generation first, because it alone makes the
purge effective; a lost feed event only leaves stale candidates that the generation check rejects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from control_plane.cache_feed import CACHE_FEED_MAXLEN, NamespacePurged, encode_feed_event
from control_plane.errors import StoreUnavailableError
from control_plane.keys import (
    CACHE_FEED,
    CACHE_STAT_FIELDS,
    cache_generation,
    cache_namespace,
    tenant_cache_stats,
)
from control_plane.model import CacheStats
from control_plane.redis_client import RedisClient

__all__ = ["CacheAdmin", "purge_cache_namespace"]

_log = logging.getLogger(__name__)
_UNREACHABLE = "the cache store (Redis/Valkey) is unreachable"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stats(tenant: str, raw: dict[bytes | str, bytes | str]) -> CacheStats:
    values = {_text(field): _text(value) for field, value in raw.items()}
    counters: dict[str, int] = {}
    for name in CACHE_STAT_FIELDS:
        try:
            counters[name] = max(0, int(values.get(name, "0")))
        except ValueError:
            counters[name] = 0  # not a counter of ours; the stats must not fail on it
    return CacheStats(tenant=tenant, **counters)


async def purge_cache_namespace(client: RedisClient, namespace: str) -> int:
    """Bump `namespace`'s generation, then announce it on the feed; the new generation.

    Raises RedisError/OSError when the bump fails. A failed announcement is only logged: the bump alone
    makes the purge effective (see the module doc), and a retry would purge again."""
    generation = int(await client.incr(cache_generation(namespace)))
    event = encode_feed_event(NamespacePurged(namespace=namespace, generation=generation))
    fields: dict[FieldT, EncodableT] = {name: value for name, value in event.items()}
    try:
        await client.xadd(CACHE_FEED, fields, maxlen=CACHE_FEED_MAXLEN, approximate=True)
    except (RedisError, OSError) as exc:
        _log.warning(
            "cache namespace %s purged (generation %d) but not announced (%s): replicas drop its vectors "
            "as they expire",
            namespace,
            generation,
            type(exc).__name__,
        )
    return generation


class CacheAdmin:
    """Cache counters and purges over redis.asyncio (the admin API's `CachePort`).

    Counters live with governance state (`client`); entries, generations and the index feed live in the
    cache's Redis (`entries`), which a deployment may keep separate (ext_proc's `cache_redis_url`)."""

    def __init__(self, client: RedisClient, *, entries: RedisClient | None = None) -> None:
        self._client = client
        self._entries = entries if entries is not None else client

    async def stats(self, tenant: str) -> CacheStats:
        """The tenant's counters; all 0 when its cache never counted anything."""
        try:
            raw: dict[bytes | str, bytes | str] = await self._client.hgetall(tenant_cache_stats(tenant))
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return _stats(tenant, raw)

    async def stats_many(self, tenants: Sequence[str]) -> list[CacheStats]:
        """`stats` of each tenant, in order, in one round trip (a pipeline, not a transaction)."""
        if not tenants:
            return []
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for tenant in tenants:
                    pipe.hgetall(tenant_cache_stats(tenant))
                raws: list[dict[bytes | str, bytes | str]] = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return [_stats(tenant, raw) for tenant, raw in zip(tenants, raws, strict=True)]

    async def reset_stats(self, tenant: str) -> None:
        """Zero the tenant's counters (they restart from the next request)."""
        try:
            await self._client.delete(tenant_cache_stats(tenant))
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        _log.info("cache stats of tenant %s reset", tenant)

    async def purge_tenant(self, tenant: str) -> int:
        """Invalidate every entry of the tenant's own namespace; the new generation.

        Shared namespaces the tenant opted into are not touched (see `purge_namespace`)."""
        return await self._purge(cache_namespace(tenant))

    async def purge_namespace(self, name: str) -> int:
        """Invalidate every entry of the shared namespace `name` (for every tenant using it)."""
        return await self._purge(cache_namespace("", shared=name))

    async def _purge(self, namespace: str) -> int:
        try:
            generation = await purge_cache_namespace(self._entries, namespace)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        _log.info("cache namespace %s purged: generation %d", namespace, generation)
        return generation

"""Per-tenant cache counters: counted in memory on the request path, added to Redis once a second.

One `HINCRBY` per request would add a Redis write to every request; instead `run_flusher` adds the
accumulated counts of every tenant in one pipeline, within `timeout_s`. Counts that cannot be written
(Redis down, or too slow) are kept and retried, up to `max_tenants` tenants; the counters are
statistics, not billing (the ledger records every hit exactly), so losing some in a long outage is
acceptable and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from redis.exceptions import RedisError

from control_plane.keys import CACHE_STAT_FIELDS, tenant_cache_stats
from control_plane.redis_client import RedisClient

__all__ = ["CacheStatsRecorder"]

_log = logging.getLogger(__name__)


class CacheStatsRecorder:
    """Per-tenant cache counters in memory, added to each tenant's Redis hash by `flush`."""

    def __init__(
        self,
        client: RedisClient | None,
        *,
        interval_s: float = 1.0,
        max_tenants: int = 100_000,
        timeout_s: float = 1.0,
    ) -> None:
        self._client = client
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._max_tenants = max_tenants
        self._pending: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))

    def count(self, tenant: str, field: str, amount: int = 1) -> None:
        if field not in CACHE_STAT_FIELDS:
            raise ValueError(f"unknown cache stat {field!r}")
        if amount and (tenant in self._pending or len(self._pending) < self._max_tenants):
            self._pending[tenant][field] += amount

    def pending(self, tenant: str) -> dict[str, int]:
        """Counts not written to Redis yet (tests, and the final flush)."""
        return dict(self._pending.get(tenant, {}))

    async def flush(self) -> bool:
        """Write what was counted; True if nothing is left pending. A write that fails or takes longer
        than `timeout_s` keeps the counts for the next flush (one that timed out after Redis applied
        it is then counted twice: these are statistics, see the module doc)."""
        if not self._pending or self._client is None:
            return not self._pending
        batch, self._pending = self._pending, defaultdict(lambda: defaultdict(int))
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._client.pipeline(transaction=False) as pipe:
                    for tenant, fields in batch.items():
                        for field, amount in fields.items():
                            pipe.hincrby(tenant_cache_stats(tenant), field, amount)
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError) as error:
            for tenant, fields in batch.items():  # keep them for the next round
                for field, amount in fields.items():
                    self.count(tenant, field, amount)
            reason = "timed out" if isinstance(error, TimeoutError) else "Redis unavailable"
            _log.warning("cache stats not written (%s); %d tenants kept", reason, len(self._pending))
            return False
        return True

    async def run_flusher(self) -> None:
        """Flush every `interval_s`, forever (run as a task; cancel, then `flush`, to stop)."""
        while True:
            await asyncio.sleep(self._interval_s)
            await self.flush()

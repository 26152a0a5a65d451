"""The leases this replica holds: admitted requests whose settlement has not reached Redis yet.

The lease renewer re-scores them every `lease_ttl / 3` (one script run per tenant, pipelined), so a
long stream never looks dead to the reconciler. A lease taken in Redis is released here when its
SETTLE ran; a local (degraded-mode) admission is released when the request finishes, because it
holds nothing in Redis.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from control_plane.keys import tenant_inflight
from control_plane.redis_client import RedisClient, queue_script
from ext_proc.governance.quota_scripts import RENEW

__all__ = ["LeaseBook", "LeaseRenewer"]

_logger = logging.getLogger(__name__)


class LeaseBook:
    """tenant → request ids this replica holds, with whether each is local-only."""

    def __init__(self) -> None:
        self._held: dict[str, dict[str, bool]] = {}

    def hold(self, tenant: str, request_id: str, *, local: bool) -> None:
        self._held.setdefault(tenant, {})[request_id] = local

    def release(self, tenant: str, request_id: str) -> None:
        held = self._held.get(tenant)
        if held is not None:
            held.pop(request_id, None)
            if not held:
                del self._held[tenant]

    def local_count(self, tenant: str) -> int:
        """Open local-only admissions of `tenant` (the degraded limiter's concurrency)."""
        return sum(1 for local in self._held.get(tenant, {}).values() if local)

    def redis_leases(self) -> dict[str, list[str]]:
        """tenant → request ids held in Redis (a copy, safe to use across awaits)."""
        leases = {t: [rid for rid, local in held.items() if not local] for t, held in self._held.items()}
        return {t: rids for t, rids in leases.items() if rids}

    def __len__(self) -> int:
        return sum(len(held) for held in self._held.values())


class LeaseRenewer:
    """Re-scores this replica's Redis leases every `lease_ttl_s / 3`."""

    def __init__(self, client: RedisClient, leases: LeaseBook, *, lease_ttl_s: float) -> None:
        self._client = client
        self._leases = leases
        self._lease_ms = int(lease_ttl_s * 1000)
        self._interval_s = lease_ttl_s / 3
        self._renew = client.register_script(RENEW)

    async def renew_once(self) -> int:
        """Renew every held lease now; the number of leases that still existed."""
        leases = self._leases.redis_leases()
        if not leases:
            return 0
        async with self._client.pipeline(transaction=False) as pipe:
            for tenant, rids in leases.items():
                await queue_script(
                    pipe, self._renew, keys=[tenant_inflight(tenant)], args=[self._lease_ms, *rids]
                )
            results = await pipe.execute()
        return sum(int(r) for r in results)

    async def run(self) -> None:
        """Renew forever (run as a task; cancel to stop)."""
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.renew_once()
            except (RedisError, OSError) as exc:
                _logger.warning("lease renewal failed (%s); retrying", type(exc).__name__)

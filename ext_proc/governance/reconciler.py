"""Bills the requests of crashed replicas: leases expired for longer than a grace period.

Every `interval_s`, each replica lists the expired leases of the tenants in its policy table (one
pipelined ZRANGEBYSCORE per 500 tenants), reads their reservations and runs SETTLE in `reclaim` mode
for each: the script re-checks the expiry with Redis' clock and removes the lease, so exactly one
claimer bills it — outcome LOST, `estimated`, tokens = the reservation, cost per the plan as stored
with the reservation. A later `finish` for the same request id is a no-op (already billed).
Leases of tenants deleted from the registry are not scanned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from redis.exceptions import RedisError

from control_plane.keys import tenant_inflight, tenant_reservations
from control_plane.model import BillingKind, Limits, RequestOutcome
from control_plane.redis_client import RedisClient, queue_script
from ext_proc.governance.policies import PolicyTableHolder
from ext_proc.governance.quota_scripts import SETTLE
from ext_proc.governance.settlement import BillingTerms, RecordFields, SettleCommand, cost_for, settle_command
from ext_proc.governance.traffic_stats import TrafficStatsRecorder

__all__ = ["Reconciler"]

_logger = logging.getLogger(__name__)

_SCAN_CHUNK = 500
_PER_TENANT = 200


def _now() -> datetime:
    return datetime.now(UTC)


def lost_command(
    tenant: str,
    request_id: str,
    stored: bytes | str | None,
    *,
    limits: Limits,
    grace_ms: int,
    dedupe_ttl_s: int,
    now: datetime,
) -> SettleCommand:
    """The reclaim-mode SETTLE of one expired lease, from its stored reservation."""
    cost, prompt, output, info = "0", 0, 0, {}
    if stored is not None:
        head = (stored.encode() if isinstance(stored, str) else stored).split(b" ", 3)
        cost, prompt, output = head[0].decode(), int(head[1]), int(head[2])
        info = orjson.loads(head[3])
    terms = (
        BillingTerms.from_json(info["billing"]) if "billing" in info else BillingTerms(BillingKind.PER_TOKEN)
    )
    started = datetime.fromisoformat(info["started_at"]) if "started_at" in info else now
    _, billable = cost_for(
        terms,
        None,
        outcome=RequestOutcome.LOST,
        prompt_tokens=prompt,
        completion_tokens=output,
        cached_tokens=0,
    )
    if terms.kind is BillingKind.MONTHLY:
        cost = ""
    elif terms.kind is BillingKind.PER_CALL:
        cost = "0"  # per-call plans charge successful calls only
    record = RecordFields(
        request_id=request_id,
        tenant=tenant,
        key_id=str(info.get("key_id", "")),
        model=str(info.get("model", "")),
        outcome=RequestOutcome.LOST,
        started_at=started,
        finished_at=now,
        prompt_tokens=prompt,
        completion_tokens=output,
        price_version=str(info.get("price_version", "")),
        error_code="lost",
        stream=bool(info.get("stream", False)),
        estimated=True,
    )
    return settle_command(
        record,
        limits=limits,
        terms=terms,
        cost=cost,
        billable=billable,
        dedupe_ttl_s=dedupe_ttl_s,
        reclaim_grace_ms=grace_ms,
    )


class Reconciler:
    """Finds and bills expired leases (run `run` as a task, or call `reconcile_once`)."""

    def __init__(
        self,
        client: RedisClient,
        policies: PolicyTableHolder,
        *,
        interval_s: float = 5.0,
        grace_s: float = 2.0,
        dedupe_ttl_s: int = 7 * 86_400,
        clock: Callable[[], datetime] = _now,
        traffic: TrafficStatsRecorder | None = None,
    ) -> None:
        self._client = client
        self._policies = policies
        self._traffic = traffic
        self._interval_s = interval_s
        self._grace_ms = int(grace_s * 1000)
        self._dedupe_ttl_s = dedupe_ttl_s
        self._clock = clock
        self._settle = client.register_script(SETTLE)

    async def reconcile_once(self) -> int:
        """Bill every lease expired longer than the grace; the number this replica billed."""
        table = self._policies.current
        if table is None:
            return 0
        seconds, micros = await self._client.time()
        cutoff = seconds * 1000 + micros // 1000 - self._grace_ms
        tenants = list(table.tenants())
        billed = 0
        for start in range(0, len(tenants), _SCAN_CHUNK):
            chunk = tenants[start : start + _SCAN_CHUNK]
            async with self._client.pipeline(transaction=False) as pipe:
                for tenant in chunk:
                    pipe.zrangebyscore(tenant_inflight(tenant), "-inf", cutoff, start=0, num=_PER_TENANT)
                found = await pipe.execute()
            for tenant, rids in zip(chunk, found, strict=True):
                policy = table.policy(tenant)
                if rids and policy is not None:
                    billed += await self._bill(tenant, [r.decode() for r in rids], policy.limits)
        return billed

    async def _bill(self, tenant: str, rids: list[str], limits: Limits) -> int:
        stored: list[bytes | str | None] = await self._client.hmget(tenant_reservations(tenant), rids)
        now = self._clock()
        commands: list[SettleCommand] = []
        async with self._client.pipeline(transaction=False) as pipe:
            for rid, raw in zip(rids, stored, strict=True):
                command = lost_command(
                    tenant,
                    rid,
                    raw,
                    limits=limits,
                    grace_ms=self._grace_ms,
                    dedupe_ttl_s=self._dedupe_ttl_s,
                    now=now,
                )
                commands.append(command)
                await queue_script(pipe, self._settle, keys=command.keys, args=command.args)
            results = await pipe.execute()
        billed = 0
        for command, result in zip(commands, results, strict=True):
            if int(result[0]) == 1:
                billed += 1
                if self._traffic is not None:
                    self._traffic.settled(command.args, result[1])
        if billed:
            _logger.warning("reconciler billed %d lost requests of tenant %s", billed, tenant)
        return billed

    async def run(self) -> None:
        """Reconcile forever (run as a task; cancel to stop)."""
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.reconcile_once()
            except (RedisError, OSError) as exc:
                _logger.warning("reconciler: redis unavailable (%s)", type(exc).__name__)

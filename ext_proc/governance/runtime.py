"""`GovernanceRuntime`: auth, quotas and billing wired from settings, with their background tasks.

    async with GovernanceRuntime(settings, redis_client, policy_holder) as governance:
        governance.authenticator   # Authenticator
        governance.gate            # QuotaGate
        governance.billing         # BillingSink
        governance.policies        # PolicyTableHolder (load it from the snapshot feed)

Background tasks while open: the key-change follower (cache coherence), the lease renewer, the ledger
writer, the spool replayer, the reconciler and the traffic statistics flusher. Leaving the context
cancels them and drains the ledger queue to Redis, or to the spool when Redis is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

from control_plane.redis_client import RedisClient
from ext_proc.governance.auth import RedisAuthenticator
from ext_proc.governance.jwt_auth import JwksSource, JwtVerifier
from ext_proc.governance.lease import LeaseBook, LeaseRenewer
from ext_proc.governance.ledger import RedisBillingSink
from ext_proc.governance.policies import PolicyTableHolder
from ext_proc.governance.quota import RedisQuotaGate
from ext_proc.governance.reconciler import Reconciler
from ext_proc.governance.spool import Spool
from ext_proc.governance.traffic_stats import TrafficStatsRecorder
from ext_proc.settings import ExtProcSettings

__all__ = ["GovernanceRuntime", "build_jwt_verifier"]

_logger = logging.getLogger(__name__)

_CANCEL_ROUNDS = 20
_CANCEL_WAIT_S = 0.25


def build_jwt_verifier(settings: ExtProcSettings) -> JwtVerifier | None:
    """The JWT verifier the settings ask for (None when JWT is disabled)."""
    if not settings.jwt_enabled:
        return None
    source = JwksSource(
        path=settings.jwt_jwks_path, url=settings.jwt_jwks_url, timeout_s=settings.jwt_jwks_timeout_s
    )
    return JwtVerifier(
        source,
        algorithms=settings.jwt_algorithms,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        tenant_claim=settings.jwt_tenant_claim,
        leeway_s=settings.jwt_leeway_s,
        min_refresh_s=settings.jwt_jwks_min_refresh_s,
    )


class GovernanceRuntime:
    """Owns the governance components of one ext_proc process and their background tasks."""

    def __init__(self, settings: ExtProcSettings, client: RedisClient, policies: PolicyTableHolder) -> None:
        self.settings = settings
        self.policies = policies
        self.leases = LeaseBook()
        self.traffic = TrafficStatsRecorder(client)
        self.authenticator = RedisAuthenticator(
            client,
            cache_size=settings.key_cache_size,
            negative_ttl_s=settings.key_negative_ttl_s,
            poll_interval_s=settings.key_poll_interval_s,
            jwt=build_jwt_verifier(settings),
        )
        self.billing = RedisBillingSink(
            client,
            policies,
            self.leases,
            Spool(settings.spool_dir),
            dedupe_ttl_s=settings.ledger_dedupe_ttl_s,
            queue_max=settings.ledger_queue_max,
            traffic=self.traffic,
        )
        self.gate = RedisQuotaGate(
            client,
            policies,
            self.leases,
            self.billing,
            lease_ttl_s=settings.lease_ttl_s,
            dedupe_ttl_s=settings.ledger_dedupe_ttl_s,
            failure_mode=settings.quota_failure_mode,
            degraded_replicas=settings.quota_degraded_replicas,
        )
        self.renewer = LeaseRenewer(client, self.leases, lease_ttl_s=settings.lease_ttl_s)
        self.reconciler = Reconciler(
            client,
            policies,
            interval_s=settings.reconcile_interval_s,
            grace_s=settings.reconcile_grace_s,
            dedupe_ttl_s=settings.ledger_dedupe_ttl_s,
            traffic=self.traffic,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._writer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GovernanceRuntime:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def start(self) -> None:
        """Start the background tasks (idempotent)."""
        if self._tasks:
            return
        loops: dict[str, Coroutine[Any, Any, None]] = {
            "key-follower": self.authenticator.follow_changes(),
            "lease-renewer": self.renewer.run(),
            "spool-replayer": self.billing.run_replayer(self.settings.spool_replay_interval_s),
            "reconciler": self.reconciler.run(),
            "traffic-stats": self.traffic.run_flusher(),
        }
        self._tasks = [asyncio.create_task(coro, name=f"governance-{name}") for name, coro in loops.items()]
        self._writer = asyncio.create_task(self.billing.run_writer(), name="governance-ledger-writer")

    async def stop(self) -> None:
        """Cancel the loops, then drain the ledger queue (Redis, else the spool)."""
        tasks = [*self._tasks, *([self._writer] if self._writer is not None else [])]
        pending = set(tasks)
        for _ in range(_CANCEL_ROUNDS):  # a library may swallow one cancellation (redis pub/sub reads)
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=_CANCEL_WAIT_S)
            if not pending:
                break
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                _logger.error("%s had failed: %r", task.get_name(), task.exception())
        if pending:
            _logger.error("governance tasks did not stop: %s", sorted(t.get_name() for t in pending))
        self._tasks, self._writer = [], None
        await self.billing.close()
        await self.traffic.flush()  # the dashboard's counts of the records just drained (best effort)
        _logger.info("governance stopped; %d records left in memory", self.billing.pending)

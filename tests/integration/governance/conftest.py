"""A real Valkey per test (a container when Docker is there: tests/support/valkey.py), stoppable and
restartable on the same port, plus governance builders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from control_plane.model import (
    Billing,
    Limits,
    Plan,
    Price,
    RegistrySpec,
    Snapshot,
    Tenant,
)
from ext_proc.governance.contracts import AdmissionRequest, Principal, TenantPolicy
from ext_proc.governance.lease import LeaseBook
from ext_proc.governance.ledger import RedisBillingSink
from ext_proc.governance.policies import PolicyTableHolder
from ext_proc.governance.quota import RedisQuotaGate
from ext_proc.governance.spool import Spool
from tests.support.valkey import ValkeyContainer, ValkeyServer, private_valkey

PRICE_FROM = datetime(2024, 1, 1, tzinfo=UTC)
MODEL = "gpt-test"


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[ValkeyServer | ValkeyContainer]:
    server = private_valkey(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def redis_client(valkey: ValkeyServer | ValkeyContainer) -> AsyncIterator[aioredis.Redis]:
    # A blocking pool: bursts wait for a connection instead of failing with MaxConnectionsError
    # (the default pool refuses the 101st concurrent command) — ext_proc must be wired the same way.
    pool = aioredis.BlockingConnectionPool.from_url(
        valkey.url, max_connections=32, timeout=2.0, socket_connect_timeout=0.5, socket_timeout=2.0
    )
    redis_client = aioredis.Redis(connection_pool=pool)
    yield redis_client
    await redis_client.aclose()
    await pool.aclose()


def snapshot(
    limits: Limits | None = None,
    *,
    billing: Billing | None = None,
    tenants: tuple[str, ...] = ("acme",),
    max_output_tokens: int | None = None,
    output_reserve_tokens: int = 256,
    input_per_1m_micro: int = 1_000_000,
    output_per_1m_micro: int = 2_000_000,
) -> Snapshot:
    plan = Plan(
        name="p",
        limits=limits or Limits(),
        billing=billing or Billing(),
        max_output_tokens=max_output_tokens,
        output_reserve_tokens=output_reserve_tokens,
    )
    price = Price(
        model=MODEL,
        effective_from=PRICE_FROM,
        input_per_1m_micro=input_per_1m_micro,
        output_per_1m_micro=output_per_1m_micro,
    )
    return Snapshot(
        version=1,
        spec=RegistrySpec(
            plans=(plan,), tenants=tuple(Tenant(id=t, plan="p") for t in tenants), prices=(price,)
        ),
    )


def holder_for(snap: Snapshot) -> PolicyTableHolder:
    holder = PolicyTableHolder()
    assert holder.load(snap)
    return holder


def policy_of(holder: PolicyTableHolder, tenant: str = "acme") -> TenantPolicy:
    table = holder.current
    assert table is not None
    policy = table.policy(tenant)
    assert policy is not None
    return policy


def request(
    holder: PolicyTableHolder,
    rid: str,
    *,
    prompt: int = 100,
    output: int = 0,
    tenant: str = "acme",
    started_at: datetime | None = None,
) -> AdmissionRequest:
    return AdmissionRequest(
        request_id=rid,
        principal=Principal(tenant=tenant, key_id="key_0000000000000001"),
        policy=policy_of(holder, tenant),
        model=MODEL,
        stream=False,
        prompt_tokens=prompt,
        reserved_output_tokens=output,
        started_at=started_at or datetime.now(UTC),
    )


async def hget_int(client: aioredis.Redis, key: str, field: str) -> int:
    """An integer hash field (0 when absent)."""
    value = await client.hget(key, field)
    return int(value) if value is not None else 0


async def stream_values(client: aioredis.Redis, key: str) -> list[bytes]:
    """The `r` field of every entry of a ledger stream."""
    entries = await client.xrange(key) or []
    values = [fields[b"r"] for _, fields in entries if fields is not None]
    return [v.encode() if isinstance(v, str) else v for v in values]


class Governance:
    """A gate + billing sink + lease book over one client, as the runtime wires them."""

    def __init__(
        self,
        client: aioredis.Redis,
        holder: PolicyTableHolder,
        spool_dir: Path,
        *,
        lease_ttl_s: float = 60.0,
        failure_mode: str = "closed",
        replicas: int = 2,
    ) -> None:
        self.leases = LeaseBook()
        self.billing = RedisBillingSink(client, holder, self.leases, Spool(spool_dir), retry_s=0.2)
        self.gate = RedisQuotaGate(
            client,
            holder,
            self.leases,
            self.billing,
            lease_ttl_s=lease_ttl_s,
            failure_mode="local" if failure_mode == "local" else "closed",
            degraded_replicas=replicas,
            timeout_s=1.0,
        )

    async def flush(self) -> None:
        """Write every queued record now (what the writer task does)."""
        await self.billing.close()

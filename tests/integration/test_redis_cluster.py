"""The whole stack on a 3-primary Valkey Cluster (`redis+cluster://`): quotas and the ledger stay exact.

Three tenants whose hash tags live on three different nodes each send a burst of requests through
Envoy and two ext_proc workers with the official SDK. A tenant with `requests_per_minute = N` gets
exactly N answers and 429s for the rest; every request has exactly one ledger record in its tenant's
stream, and the usage counters equal both the records and what the SDK was told.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import openai
import orjson
import pytest
import redis
from redis.cluster import ClusterNode

from control_plane.admin_client import AdminClient
from control_plane.keys import REGISTRY_SNAPSHOT, TOTAL, tenant_ledger, tenant_usage, usage_field
from control_plane.launcher import StackInfo, StackSettings
from control_plane.model import Limits, Price
from tests.support.envoy_probe import EnvoyProbe
from tests.support.stacks import running_stack
from tests.support.tenants import ProvisionedTenant, TenantFactory
from tests.support.valkey_cluster import ValkeyCluster

pytestmark = pytest.mark.integration

RPM = 8
"""Per tenant. The bucket refills one request per 60 / RPM s: the burst must be over before that."""
REQUESTS = 20
"""Per tenant: more than RPM, so that each tenant is refused REQUESTS - RPM times."""
TOKENS = 5
"""What the mock upstream answers (`x-mock-tokens`)."""
PRICE = Price(
    model="demo",
    effective_from=datetime(2025, 1, 1, tzinfo=UTC),  # newer than the demo seed's price: this one applies
    input_per_1m_micro=3_000_000,
    output_per_1m_micro=7_000_000,
)
MONTH = datetime.now(UTC).strftime("%Y-%m")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    cluster = ValkeyCluster(tmp_path_factory.mktemp("valkey-cluster"), nodes=3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def cluster_stack(cluster: ValkeyCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    settings = StackSettings(
        state_dir=tmp_path_factory.mktemp("cluster-state"),
        redis_url=cluster.url,
        listener_port=0,
        admin_port=0,
        ext_proc_workers=2,
        demo=True,
        log_level="info",
    )
    with running_stack(settings) as stack:
        yield stack.info


@pytest.fixture(scope="module")
def store(cluster: ValkeyCluster) -> Iterator[redis.RedisCluster]:
    client = redis.RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port) for port in cluster.ports])
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def admin(cluster_stack: StackInfo) -> Iterator[AdminClient]:
    client = AdminClient(cluster_stack.admin_url, cluster_stack.admin_token)
    try:
        yield client
    finally:
        client.close()


def _node_of(store: redis.RedisCluster, key: str) -> str:
    """The node serving `key`, after checking redis-py's slot against the server's CLUSTER KEYSLOT."""
    slot = store.keyslot(key)
    assert int(store.execute_command("CLUSTER KEYSLOT", key, target_nodes=store.get_random_node())) == slot
    node = store.nodes_manager.get_node_from_slot(slot)
    assert node is not None
    assert node.name is not None
    return node.name


def _tenants_on_every_node(
    factory: TenantFactory, store: redis.RedisCluster, limits: Limits, limit: int = 40
) -> dict[str, ProvisionedTenant]:
    """Creates tenants until one lives on each primary; {node name: tenant}."""
    primaries = {node.name for node in store.get_primaries()}
    assert len(primaries) == 3, primaries
    placed: dict[str, ProvisionedTenant] = {}
    for _ in range(limit):
        tenant = factory.create(limits)
        placed.setdefault(_node_of(store, tenant_ledger(tenant.id)), tenant)
        if set(placed) == primaries:
            return placed
    raise AssertionError(f"{limit} tenants did not cover the 3 nodes: {sorted(placed)}")


def _records(
    store: redis.RedisCluster, tenant: str, expected: int, timeout_s: float = 15.0
) -> list[dict[str, Any]]:
    """The tenant's ledger records once there are `expected` (the writer is asynchronous), plus time for
    any duplicate to show."""
    deadline = time.monotonic() + timeout_s
    while store.xlen(tenant_ledger(tenant)) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    return [orjson.loads(fields[b"r"]) for _id, fields in store.xrange(tenant_ledger(tenant))]


def _usage(store: redis.RedisCluster, tenant: str, metric: str) -> int:
    value = store.hget(tenant_usage(tenant, MONTH), usage_field(TOTAL, TOTAL, metric))
    return int(value) if value is not None else 0


def _wait_for_price(info: StackInfo, store: redis.RedisCluster, tenant: ProvisionedTenant) -> None:
    """Sends requests as `tenant` until one is billed at `PRICE` (the ext_procs have the registry version
    that holds it)."""
    deadline = time.monotonic() + 20
    body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    versions: list[str] = []
    while time.monotonic() < deadline:
        response = httpx.post(f"{info.listener_url}/chat/completions", json=body, headers=tenant.headers)
        assert response.status_code == 200, response.text
        request_id = response.headers["x-request-id"]
        for _ in range(100):
            records = [orjson.loads(f[b"r"]) for _i, f in store.xrange(tenant_ledger(tenant.id))]
            versions = [r["price_version"] for r in records if r["request_id"] == request_id]
            if versions:
                break
            time.sleep(0.05)
        if versions and all(version == PRICE.version for version in versions):
            return
    raise AssertionError(f"no request billed at the new price; the last one's ledger records: {versions}")


async def _burst(info: StackInfo, tenants: list[ProvisionedTenant]) -> list[tuple[str, str, str, int, int]]:
    """REQUESTS concurrent chat completions per tenant, all at once: (tenant, outcome, request id,
    prompt tokens, completion tokens); outcome "ok" or the error code."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    clients = {
        t.id: openai.AsyncOpenAI(
            base_url=info.listener_url,
            api_key=t.secret,
            max_retries=0,
            timeout=30.0,
            http_client=httpx.AsyncClient(limits=limits, timeout=30.0),
        )
        for t in tenants
    }

    async def one(tenant: str) -> tuple[str, str, str, int, int]:
        try:
            raw = await clients[tenant].chat.completions.with_raw_response.create(
                model="demo",
                messages=[{"role": "user", "content": "hello cluster"}],
                max_tokens=TOKENS,
                extra_headers={"x-mock-tokens": str(TOKENS)},
            )
        except openai.APIStatusError as error:
            code = error.body.get("code") if isinstance(error.body, dict) else None
            return tenant, f"{error.status_code} {code}", error.response.headers.get("x-request-id", ""), 0, 0
        completion = raw.parse()
        assert completion.usage is not None
        usage = completion.usage
        return tenant, "ok", raw.headers["x-request-id"], usage.prompt_tokens, usage.completion_tokens

    try:
        return list(await asyncio.gather(*(one(t.id) for t in tenants for _ in range(REQUESTS))))
    finally:
        for client in clients.values():
            await client.close()


def test_the_stack_keeps_its_state_on_the_cluster(
    cluster_stack: StackInfo, store: redis.RedisCluster
) -> None:
    assert cluster_stack.redis_url.startswith("redis+cluster://")
    assert store.exists(REGISTRY_SNAPSHOT) == 1
    assert store.cluster_info()["cluster_state"] == "ok"


def test_rpm_and_ledger_are_exact_for_tenants_on_three_nodes(
    cluster_stack: StackInfo, admin: AdminClient, store: redis.RedisCluster
) -> None:
    info = cluster_stack
    assert len(info.ext_proc_ports) == 2
    admin.put_price(PRICE)
    factory = TenantFactory(admin)
    _wait_for_price(info, store, factory.create(Limits()))
    placed = _tenants_on_every_node(factory, store, Limits(requests_per_minute=RPM))
    tenants = list(placed.values())
    assert len({store.keyslot(tenant_ledger(t.id)) for t in tenants}) == 3

    probe = EnvoyProbe(info.envoy_admin_url)
    streams_before = probe.requests_per_host("tollway_ext_proc")
    started = time.monotonic()
    results = asyncio.run(_burst(info, tenants))
    elapsed = time.monotonic() - started
    streams_after = probe.requests_per_host("tollway_ext_proc")
    # The refill of one request takes 60 / RPM s: a slower burst could rightly admit more than RPM.
    assert elapsed < 60 / RPM, f"the burst took {elapsed:.1f}s; the premise of exactness does not hold"
    per_worker = {host: count - streams_before.get(host, 0) for host, count in streams_after.items()}
    assert len(per_worker) == len(info.ext_proc_ports), per_worker
    assert all(count > 0 for count in per_worker.values()), per_worker  # both ext_procs took part

    for node, tenant in placed.items():
        mine = [r for r in results if r[0] == tenant.id]
        outcomes = Counter(outcome for _t, outcome, *_ in mine)
        # (a) exactly RPM answers, every other request refused with a 429
        assert outcomes == {"ok": RPM, "429 rate_limit_exceeded": REQUESTS - RPM}, (node, outcomes)

        # (b) one ledger record per request, none twice, outcome matching what the client saw
        records = _records(store, tenant.id, REQUESTS)
        by_id = Counter(r["request_id"] for r in records)
        assert len(records) == REQUESTS, (node, len(records))
        assert set(by_id.values()) == {1}, (node, by_id)
        seen = {request_id: outcome for _t, outcome, request_id, _p, _c in mine}
        assert set(seen) == set(by_id), node
        ok_records = [r for r in records if r["outcome"] == "ok"]
        assert {r["request_id"] for r in ok_records} == {
            rid for rid, outcome in seen.items() if outcome == "ok"
        }
        assert Counter(r["outcome"] for r in records) == {"ok": RPM, "rejected": REQUESTS - RPM}

        # ...and the usage counters equal the records and what the SDK reported, token for token
        prompt = sum(p for _t, outcome, _r, p, _c in mine if outcome == "ok")
        completion = sum(c for _t, outcome, _r, _p, c in mine if outcome == "ok")
        assert completion == RPM * TOKENS
        assert (
            sum(r["prompt_tokens"] for r in ok_records) == prompt == _usage(store, tenant.id, "prompt_tokens")
        )
        assert sum(r["completion_tokens"] for r in ok_records) == completion
        assert _usage(store, tenant.id, "completion_tokens") == completion
        assert all(r["price_version"] == PRICE.version and not r["estimated"] for r in ok_records)
        cost = prompt * PRICE.input_per_1m_micro + completion * PRICE.output_per_1m_micro  # pico-units
        assert sum(r["cost_pico"] for r in records) == cost == _usage(store, tenant.id, "cost_pico"), node
        assert _usage(store, tenant.id, "requests") == REQUESTS

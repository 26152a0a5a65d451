"""Quotas and billing through two Envoys and two ext_procs sharing one Valkey, with the official SDK.

Each test gets its own plan, tenant, key and mock upstream, so the numbers it checks are its own.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import openai
import orjson
import pytest
import redis

from control_plane.admin_client import AdminClient
from control_plane.keys import (
    TOTAL,
    tenant_inflight,
    tenant_ledger,
    tenant_reservations,
    tenant_usage,
    usage_field,
)
from control_plane.launcher import StackInfo
from control_plane.model import Backend, Billing, BillingKind, Limits, Model, Price
from tests.support.tenants import ProvisionedTenant, TenantFactory

pytestmark = pytest.mark.integration

MONTH = datetime.now(UTC).strftime("%Y-%m")
PRICE_FROM = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(info: StackInfo) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(info.redis_url)
    yield client
    client.close()


@pytest.fixture
def model_on_mock(
    info: StackInfo, admin: AdminClient, mock_upstream: Callable[[str], str], auth: dict[str, str]
) -> Callable[[str], str]:
    """Registers a model on a fresh mock upstream, waits until it routes; returns the mock's base URL."""

    def register(name: str) -> str:
        url = mock_upstream(f"{name}-upstream")
        admin.put_model(Model(name=name, backends=(Backend(name="mock", base_url=url),)))
        body = {"model": name, "messages": [{"role": "user", "content": "ready?"}], "max_tokens": 1}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            response = httpx.post(f"{info.listener_url}/chat/completions", json=body, headers=auth)
            if response.status_code == 200:
                httpx.post(f"{url.removesuffix('/v1')}/mock/reset")
                return url
            time.sleep(0.05)
        raise AssertionError(f"model {name} never became routable")

    return register


def _mock_stats(url: str) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{url.removesuffix('/v1')}/mock/stats").json()
    return stats


def _ledger(store: redis.Redis, tenant: str, expected: int, timeout_s: float = 15.0) -> list[dict[str, Any]]:
    """The tenant's ledger records once there are `expected` of them (the writer is asynchronous)."""
    deadline = time.monotonic() + timeout_s
    while store.xlen(tenant_ledger(tenant)) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # anything beyond `expected` would be a duplicate: give it time to show
    return [orjson.loads(fields[b"r"]) for _id, fields in store.xrange(tenant_ledger(tenant))]


def _usage(store: redis.Redis, tenant: str, metric: str) -> int:
    value = store.hget(tenant_usage(tenant, MONTH), usage_field(TOTAL, TOTAL, metric))
    return int(value) if value is not None else 0


def _clients(info: StackInfo, tenant: ProvisionedTenant) -> list[openai.AsyncOpenAI]:
    """One SDK client per Envoy, each with room for many concurrent connections."""
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    return [
        openai.AsyncOpenAI(
            base_url=url,
            api_key=tenant.secret,
            max_retries=0,
            timeout=30.0,
            http_client=httpx.AsyncClient(limits=limits, timeout=30.0),
        )
        for url in info.listener_urls
    ]


async def _stream_all(client: openai.AsyncOpenAI, model: str, tokens: int) -> tuple[str, int]:
    """("ok", tokens received) or (error code, 0)."""
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            max_tokens=tokens,
            extra_headers={"x-mock-tokens": str(tokens)},
        )
        received = 0
        async for chunk in stream:
            received += sum(1 for choice in chunk.choices if choice.delta.content)
        return "ok", received
    except openai.APIStatusError as error:
        return str(error.body.get("code") if isinstance(error.body, dict) else error.status_code), 0


def test_tpm_limit_holds_across_two_envoys_and_two_ext_procs(
    info: StackInfo, tenants: TenantFactory, model_on_mock: Callable[[str], str], store: redis.Redis
) -> None:
    assert len(info.listener_urls) == 2
    assert len(info.ext_proc_ports) == 2
    limit, tokens = 3000, 20
    tenant = tenants.create(Limits(tokens_per_minute=limit), output_reserve_tokens=tokens)
    url = model_on_mock("tpm-model")

    async def run() -> tuple[list[tuple[str, int]], float]:
        clients = _clients(info, tenant)
        started = time.monotonic()
        results = await asyncio.gather(
            *(_stream_all(clients[i % 2], "tpm-model", tokens) for i in range(200))
        )
        elapsed = time.monotonic() - started
        for client in clients:
            await client.close()
        return results, elapsed

    results, elapsed = asyncio.run(run())
    outcomes = Counter(code for code, _ in results)
    admitted = outcomes["ok"]
    assert set(outcomes) <= {"ok", "rate_limit_exceeded"}, outcomes
    assert all(received == tokens for code, received in results if code == "ok")

    stats = _mock_stats(url)
    upstream_tokens = stats["usage"]["prompt_tokens"] + stats["usage"]["completion_tokens"]
    # Bound: the limit, plus what the bucket refilled while the test ran, plus the documented overshoot,
    # which is 0 here (every request's output is capped by max_tokens = the reserve).
    refilled = limit / 60 * elapsed
    assert upstream_tokens <= limit + refilled, (upstream_tokens, elapsed)
    # No false 429s: at least every request whose reservation fitted the full bucket got in.
    reservation = 8 + tokens  # tiktoken's estimate for the one-word chat message, plus the output reserve
    assert admitted >= limit // reservation, outcomes
    assert stats["usage"]["reported"] == admitted

    records = _ledger(store, tenant.id, 200)
    assert len(records) == 200
    assert len({r["request_id"] for r in records}) == 200
    by_outcome = Counter(r["outcome"] for r in records)
    assert by_outcome == {"ok": admitted, "rejected": 200 - admitted}
    # Redis counters equal what the upstream reported, token for token.
    assert _usage(store, tenant.id, "prompt_tokens") == stats["usage"]["prompt_tokens"]
    assert _usage(store, tenant.id, "completion_tokens") == stats["usage"]["completion_tokens"]
    assert not any(r["estimated"] for r in records if r["outcome"] == "ok")


def test_money_budget_under_50_concurrent_requests_admits_exactly_what_fits(
    info: StackInfo,
    admin: AdminClient,
    tenants: TenantFactory,
    model_on_mock: Callable[[str], str],
    store: redis.Redis,
) -> None:
    tokens, output_price = 20, 1_000_000  # $1 per 1M output tokens: 20 micro per request, inputs free
    per_request_micro = tokens * output_price // 1_000_000
    budget_micro = 20 * per_request_micro + per_request_micro // 2  # room for 20.5 requests
    tenant = tenants.create(Limits(monthly_budget_micro=budget_micro), output_reserve_tokens=tokens)
    model_on_mock("budget-model")
    admin.put_price(Price(model="budget-model", effective_from=PRICE_FROM, output_per_1m_micro=output_price))

    async def one(client: openai.AsyncOpenAI) -> str:
        try:
            await client.chat.completions.create(
                model="budget-model",
                messages=[{"role": "user", "content": "hi"}],
                max_tokens=tokens,
                extra_headers={"x-mock-tokens": str(tokens)},
            )
            return "ok"
        except openai.APIStatusError as error:
            code = error.body.get("code") if isinstance(error.body, dict) else None
            return f"{error.status_code} {code}"

    async def run() -> Counter[str]:
        clients = _clients(info, tenant)
        outcomes = Counter(await asyncio.gather(*(one(clients[i % 2]) for i in range(50))))
        for client in clients:
            await client.close()
        return outcomes

    outcomes = asyncio.run(run())
    assert outcomes == {"ok": 20, "429 insufficient_quota": 30}  # every request that fitted got in
    records = _ledger(store, tenant.id, 50)
    assert len(records) == 50
    spend_pico = _usage(store, tenant.id, "cost_pico")
    assert spend_pico == 20 * per_request_micro * 1_000_000
    assert spend_pico <= (budget_micro + per_request_micro) * 1_000_000  # at most one request over


def test_streams_aborted_at_random_points_are_each_billed_once_and_leave_no_reservation(
    info: StackInfo, tenants: TenantFactory, model_on_mock: Callable[[str], str], store: redis.Redis
) -> None:
    tenant = tenants.create(Limits(max_concurrent_requests=200, tokens_per_minute=1_000_000))
    url = model_on_mock("abort-model")
    tokens = 30
    rng = random.Random(7)
    stops = [rng.randint(0, tokens) for _ in range(100)]

    async def one(client: openai.AsyncOpenAI, stop_after: int) -> tuple[str, int]:
        stream = await client.chat.completions.create(
            model="abort-model",
            messages=[{"role": "user", "content": "tell me a story"}],
            stream=True,
            max_tokens=tokens,
            extra_headers={"x-mock-tokens": str(tokens), "x-mock-inter-token-delay-ms": "10"},
        )
        request_id = stream.response.headers["x-request-id"]
        received = 0
        async for chunk in stream:
            received += sum(1 for choice in chunk.choices if choice.delta.content)
            if received >= stop_after:
                break
        await stream.close()
        return request_id, received

    async def run() -> list[tuple[str, int]]:
        clients = _clients(info, tenant)
        results = await asyncio.gather(*(one(clients[i % 2], stop) for i, stop in enumerate(stops)))
        for client in clients:
            await client.close()
        return list(results)

    results = asyncio.run(run())
    records = _ledger(store, tenant.id, 100)
    assert len(records) == 100
    by_id = {r["request_id"]: r for r in records}
    assert len(by_id) == 100
    for request_id, received in results:
        record = by_id[request_id]
        assert record["completion_tokens"] >= received, (record, received)  # billed ≥ delivered
    completed = sum(1 for r in records if r["outcome"] == "ok")
    assert completed >= sum(1 for stop in stops if stop >= tokens) - 5  # full reads may still race the close
    assert _mock_stats(url)["streams"]["started"] == 100
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        store.zcard(tenant_inflight(tenant.id)) or store.hlen(tenant_reservations(tenant.id))
    ):
        time.sleep(0.2)
    assert store.zcard(tenant_inflight(tenant.id)) == 0
    assert store.hlen(tenant_reservations(tenant.id)) == 0
    assert store.xlen(tenant_ledger(tenant.id)) == 100  # the reconciler found nothing to add


def _status_on(url: str, secret: str) -> int:
    body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    return httpx.post(
        f"{url}/chat/completions", json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=5
    ).status_code


def test_revoked_key_gets_401_on_every_replica_within_a_second_under_load(
    info: StackInfo, admin: AdminClient, tenants: TenantFactory
) -> None:
    from tests.support.load import Load

    tenant = tenants.create(Limits())
    loads = [Load(url, "demo", rate=30.0, threads=3, headers=tenant.headers) for url in info.listener_urls]
    for load in loads:
        load.__enter__()
    try:
        time.sleep(1.0)
        assert all(_status_on(url, tenant.secret) == 200 for url in info.listener_urls)
        admin.revoke_key(tenant.key_id)
        revoked_at = time.monotonic()
        pending = set(info.listener_urls)
        while pending and time.monotonic() - revoked_at < 3.0:
            pending = {url for url in pending if _status_on(url, tenant.secret) != 401}
        elapsed = time.monotonic() - revoked_at
    finally:
        for load in loads:
            load.__exit__(None, None, None)
    assert not pending, f"still accepted after {elapsed:.2f}s on {pending}"
    assert elapsed < 1.0, f"revocation took {elapsed:.3f}s to reach every replica"
    for load in loads:
        assert len(load.statuses) > 20
        assert set(load.statuses) <= {200, 401}


def test_rotation_keeps_the_old_key_working_for_the_grace_period_only(
    info: StackInfo, admin: AdminClient, tenants: TenantFactory
) -> None:
    tenant = tenants.create(Limits())
    rotated = admin.rotate_key(tenant.key_id, grace_s=2.0)
    new_secret = rotated["secret"]
    rotated_at = time.monotonic()
    for url in info.listener_urls:
        assert _status_on(url, new_secret) == 200
        assert _status_on(url, tenant.secret) == 200
    time.sleep(max(0.0, 2.2 - (time.monotonic() - rotated_at)))
    for url in info.listener_urls:
        assert _status_on(url, tenant.secret) == 401
        assert _status_on(url, new_secret) == 200


def test_invoices_match_hand_computed_totals(
    info: StackInfo,
    admin: AdminClient,
    tenants: TenantFactory,
    model_on_mock: Callable[[str], str],
    store: redis.Redis,
) -> None:
    model_on_mock("invoice-model")
    admin.put_price(
        Price(
            model="invoice-model",
            effective_from=PRICE_FROM,
            input_per_1m_micro=2_000_000,
            output_per_1m_micro=5_000_000,
            cached_input_per_1m_micro=1_000_000,
        )
    )
    per_token = tenants.create(Limits())
    monthly = tenants.create(
        Limits(),
        billing=Billing(
            kind=BillingKind.MONTHLY,
            monthly_fee_micro=10_000_000,
            included_tokens=50,
            overage_per_1m_micro=3_000_000,
        ),
    )
    # (prompt words = the mock's prompt tokens, completion tokens, cached tokens)
    calls = [(4, 10, 0), (2, 30, 1), (6, 25, 3)]
    for tenant in (per_token, monthly):
        client = openai.OpenAI(base_url=info.listener_url, api_key=tenant.secret, max_retries=0)
        for words, completion, cached in calls:
            reply = client.chat.completions.create(
                model="invoice-model",
                messages=[{"role": "user", "content": " ".join(["word"] * words)}],
                max_tokens=completion,
                extra_headers={"x-mock-tokens": str(completion), "x-mock-cached-tokens": str(cached)},
            )
            assert reply.usage is not None
            assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (words, completion)
        _ledger(store, tenant.id, len(calls))

    token_pico = sum((p - c) * 2_000_000 + c * 1_000_000 + o * 5_000_000 for p, o, c in calls)
    invoice = admin.usage(per_token.id, MONTH)
    assert invoice["total_micro"] == (token_pico + 500_000) // 1_000_000
    assert invoice["used_tokens"] == sum(p + o for p, o, _ in calls)

    used = sum(p + o for p, o, _ in calls)  # 77 tokens: 27 over the 50 included
    expected = 10_000_000 + ((used - 50) * 3_000_000 + 500_000) // 1_000_000
    invoice = admin.usage(monthly.id, MONTH)
    assert invoice["overage_tokens"] == used - 50
    assert invoice["total_micro"] == expected
    csv = admin.usage_csv(monthly.id, MONTH)
    assert csv.splitlines()[0].startswith("kind") or "," in csv.splitlines()[0]
    assert str(expected // 1_000_000) in csv


def test_overshoot_stays_within_the_documented_bound(
    info: StackInfo, tenants: TenantFactory, model_on_mock: Callable[[str], str]
) -> None:
    """Requests without max_tokens reserve R but produce the plan cap M: overshoot <= C * (M - R)."""
    limit, concurrency, reserve, cap = 200, 4, 10, 50
    tenant = tenants.create(
        Limits(tokens_per_minute=limit, max_concurrent_requests=concurrency),
        output_reserve_tokens=reserve,
        max_output_tokens=cap,
    )
    url = model_on_mock("overshoot-model")

    async def one(client: openai.AsyncOpenAI) -> str:
        try:  # no max_tokens: the gateway injects the plan cap; the mock would write 500 tokens
            await client.chat.completions.create(
                model="overshoot-model",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-mock-tokens": "500", "x-mock-inter-token-delay-ms": "2"},
            )
            return "ok"
        except openai.APIStatusError as error:
            return f"{error.status_code}"

    async def run() -> tuple[Counter[str], float]:
        clients = _clients(info, tenant)
        started = time.monotonic()
        outcomes = Counter(await asyncio.gather(*(one(clients[i % 2]) for i in range(40))))
        elapsed = time.monotonic() - started
        for client in clients:
            await client.close()
        return outcomes, elapsed

    outcomes, elapsed = asyncio.run(run())
    stats = _mock_stats(url)
    assert stats["usage"]["completion_tokens"] == outcomes["ok"] * cap  # the cap reached the upstream
    counted = stats["usage"]["prompt_tokens"] + stats["usage"]["completion_tokens"]
    bound = limit + limit / 60 * elapsed + concurrency * (cap - reserve)
    assert counted > limit  # the reservation really was too small: an overshoot happened…
    assert counted <= bound, (counted, bound, outcomes)  # …and it stayed within the bound
    assert set(outcomes) <= {"ok", "429"}

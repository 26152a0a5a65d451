"""The quota gate against a real Valkey: atomic admission, every dimension, settle, budget, overshoot."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from control_plane.keys import tenant_inflight, tenant_ledger, tenant_rate, tenant_reservations, usage_field
from control_plane.model import Limits, RequestOutcome
from ext_proc.errors import GatewayError, InsufficientQuotaError, RateLimitedError
from ext_proc.governance.contracts import Admission, RequestResult
from ext_proc.governance.settlement import period_keys
from tests.integration.governance.conftest import (
    Governance,
    hget_int,
    holder_for,
    request,
    snapshot,
    stream_values,
)

SCALE = 60_000


def result(
    outcome: RequestOutcome = RequestOutcome.OK, prompt: int = 0, completion: int = 0
) -> RequestResult:
    return RequestResult(
        outcome=outcome,
        status_code=200,
        finished_at=datetime.now(UTC),
        prompt_tokens=prompt,
        completion_tokens=completion,
    )


async def admit_all(gov: Governance, requests: list) -> tuple[list[Admission], list[GatewayError]]:  # type: ignore[type-arg]
    outcomes = await asyncio.gather(*(gov.gate.admit(r) for r in requests), return_exceptions=True)
    admitted = [o for o in outcomes if isinstance(o, Admission)]
    refused = [o for o in outcomes if isinstance(o, GatewayError)]
    assert len(admitted) + len(refused) == len(requests), outcomes
    return admitted, refused


async def ledger_records(client: aioredis.Redis, tenant: str = "acme") -> list[dict[str, object]]:
    return [orjson.loads(raw) for raw in await stream_values(client, tenant_ledger(tenant))]


async def totals(client: aioredis.Redis, tenant: str = "acme") -> dict[str, int]:
    month, _ = period_keys(tenant, datetime.now(UTC))
    raw = await client.hgetall(month)
    prefix = usage_field("*", "*", "")
    decoded = {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in raw.items()}
    return {k[len(prefix) :]: v for k, v in decoded.items() if k.startswith(prefix)}


async def test_200_concurrent_admits_against_5000_tpm_admit_exactly_50(
    redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    holder = holder_for(snapshot(Limits(tokens_per_minute=5_000)))
    gov = Governance(redis_client, holder, tmp_path)
    admitted, refused = await admit_all(gov, [request(holder, f"r{i}", prompt=100) for i in range(200)])
    assert len(admitted) == 50
    assert len(refused) == 150
    assert all(isinstance(e, RateLimitedError) and e.type == "tokens" for e in refused)
    headers = dict(refused[0].headers)
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-limit-tokens"] == "5000"
    assert int(headers["x-ratelimit-remaining-tokens"]) < 100
    assert dict(admitted[0].rate_limit_headers)["x-ratelimit-limit-tokens"] == "5000"
    records = await ledger_records(redis_client)
    assert len(records) == 150
    assert {r["outcome"] for r in records} == {"rejected"}
    assert {r["error_code"] for r in records} == {"rate_limit_exceeded"}
    assert await redis_client.zcard(tenant_inflight("acme")) == 50


@pytest.mark.parametrize(
    ("limits", "prompt", "output", "fits", "error", "kind"),
    [
        (Limits(requests_per_minute=3), 10, 0, 3, RateLimitedError, "requests"),
        (Limits(input_tokens_per_minute=1_000), 300, 0, 3, RateLimitedError, "tokens"),
        (Limits(output_tokens_per_minute=1_000), 10, 400, 2, RateLimitedError, "tokens"),
        (Limits(tokens_per_minute=1_000), 200, 200, 2, RateLimitedError, "tokens"),
        (Limits(max_concurrent_requests=2), 10, 0, 2, RateLimitedError, "requests"),
        (Limits(daily_tokens=1_000), 240, 10, 4, InsufficientQuotaError, "insufficient_quota"),
        (Limits(monthly_tokens=1_000), 490, 10, 2, InsufficientQuotaError, "insufficient_quota"),
        # 100 in at 1 unit/1M + 100 out at 2 units/1M = 300 micro per request
        (Limits(monthly_budget_micro=1_000), 100, 100, 3, InsufficientQuotaError, "insufficient_quota"),
    ],
)
async def test_each_dimension_admits_what_fits_and_refuses_the_rest(
    redis_client: aioredis.Redis,
    tmp_path: Path,
    limits: Limits,
    prompt: int,
    output: int,
    fits: int,
    error: type[GatewayError],
    kind: str,
) -> None:
    holder = holder_for(snapshot(limits))
    gov = Governance(redis_client, holder, tmp_path)
    for i in range(fits):
        await gov.gate.admit(request(holder, f"ok{i}", prompt=prompt, output=output))
    rate_before = await redis_client.hgetall(tenant_rate("acme"))
    with pytest.raises(error) as refused:
        await gov.gate.admit(request(holder, "over", prompt=prompt, output=output))
    assert refused.value.type == kind
    # a refusal changes no counter
    assert await redis_client.hgetall(tenant_rate("acme")) == rate_before
    assert await redis_client.zcard(tenant_inflight("acme")) == fits


async def test_concurrency_slot_frees_on_finish(redis_client: aioredis.Redis, tmp_path: Path) -> None:
    holder = holder_for(snapshot(Limits(max_concurrent_requests=1)))
    gov = Governance(redis_client, holder, tmp_path)
    first = await gov.gate.admit(request(holder, "a"))
    with pytest.raises(RateLimitedError):
        await gov.gate.admit(request(holder, "b"))
    gov.billing.finish(first, result(prompt=100))
    await gov.flush()
    await gov.gate.admit(request(holder, "c"))


async def test_settle_to_actual_counters_equal_sum_of_usage(
    redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    holder = holder_for(snapshot(Limits(tokens_per_minute=10_000_000, daily_tokens=10_000_000)))
    gov = Governance(redis_client, holder, tmp_path)
    rng = random.Random(7)
    admissions = await asyncio.gather(
        *(gov.gate.admit(request(holder, f"r{i}", prompt=100, output=256)) for i in range(40))
    )
    actual = [(rng.randint(0, 150), rng.randint(0, 600)) for _ in admissions]
    for admission, (p, c) in zip(admissions, actual, strict=True):
        gov.billing.finish(admission, result(prompt=p, completion=c))
    await gov.flush()
    usage = await totals(redis_client)
    assert usage["prompt_tokens"] == sum(p for p, _ in actual)
    assert usage["completion_tokens"] == sum(c for _, c in actual)
    assert usage["requests"] == 40
    assert usage["cost_pico"] == sum(p * 1_000_000 + c * 2_000_000 for p, c in actual)
    records = await ledger_records(redis_client)
    assert sum(int(r["cost_pico"]) for r in records) == usage["cost_pico"]  # type: ignore[call-overload]
    rate = await redis_client.hmget(tenant_rate("acme"), "rc", "rt")
    assert rate == [b"0", b"0"]
    assert await redis_client.hlen(tenant_reservations("acme")) == 0
    assert await redis_client.zcard(tenant_inflight("acme")) == 0
    level = await hget_int(redis_client, tenant_rate("acme"), "tok:l")
    expected = sum(p + c for p, c in actual) * SCALE
    assert expected - 10_000_000 * 2_000 <= level <= expected  # at most ~2 s of drain


async def test_error_releases_the_whole_reservation(redis_client: aioredis.Redis, tmp_path: Path) -> None:
    holder = holder_for(snapshot(Limits(tokens_per_minute=1_000)))
    gov = Governance(redis_client, holder, tmp_path)
    admission = await gov.gate.admit(request(holder, "e", prompt=400, output=400))
    with pytest.raises(RateLimitedError):
        await gov.gate.admit(request(holder, "f", prompt=400, output=400))
    gov.billing.finish(admission, result(RequestOutcome.UPSTREAM_ERROR))
    await gov.flush()
    assert await hget_int(redis_client, tenant_rate("acme"), "tok:l") == 0
    usage = await totals(redis_client)
    assert usage["requests"] == 2  # the error and the refusal both have their record
    assert "prompt_tokens" not in usage
    assert "cost_pico" not in usage
    await gov.gate.admit(request(holder, "g", prompt=400, output=400))


async def test_budget_50_concurrent_no_false_rejection_no_double_billing(
    redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    # 300 micro reserved per request; 1000 micro budget → exactly 3 fit
    holder = holder_for(snapshot(Limits(monthly_budget_micro=1_000)))
    gov = Governance(redis_client, holder, tmp_path)
    admitted, refused = await admit_all(
        gov, [request(holder, f"b{i}", prompt=100, output=100) for i in range(50)]
    )
    assert len(admitted) == 3
    assert all(isinstance(e, InsufficientQuotaError) for e in refused)
    for admission in admitted:
        gov.billing.finish(admission, result(prompt=100, completion=100))
        gov.billing.finish(admission, result(prompt=100, completion=100))  # a duplicate finish
    await gov.flush()
    usage = await totals(redis_client)
    assert usage["cost_pico"] == 3 * 300 * 1_000_000
    assert usage["requests"] == 50
    # 100 micro left: a 300-micro request is refused, a 50-micro one fits (no false rejection)
    with pytest.raises(InsufficientQuotaError):
        await gov.gate.admit(request(holder, "big", prompt=100, output=100))
    await gov.gate.admit(request(holder, "small", prompt=50, output=0))


async def test_overshoot_never_exceeds_c_times_m_minus_r(
    redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    c, m, r, limit = 4, 500, 100, 2_000
    holder = holder_for(
        snapshot(
            Limits(tokens_per_minute=limit, max_concurrent_requests=c),
            max_output_tokens=m,
            output_reserve_tokens=r,
        )
    )
    gov = Governance(redis_client, holder, tmp_path)
    rng = random.Random(3)
    worst = 0
    for round_ in range(30):
        admitted, _ = await admit_all(
            gov, [request(holder, f"o{round_}-{i}", prompt=100, output=r) for i in range(c + 2)]
        )
        assert len(admitted) <= c
        for admission in admitted:
            gov.billing.finish(
                admission, result(prompt=100, completion=rng.choice([m, m, rng.randint(0, m)]))
            )
        await gov.flush()
        level = await hget_int(redis_client, tenant_rate("acme"), "tok:l")
        worst = max(worst, level)
        assert level <= (limit + c * (m - r)) * SCALE
    assert worst > limit * SCALE  # the bound is reached in practice, not vacuous


async def test_monthly_and_per_call_billing(redis_client: aioredis.Redis, tmp_path: Path) -> None:
    from control_plane.model import Billing, BillingKind

    monthly = holder_for(
        snapshot(
            billing=Billing(kind=BillingKind.MONTHLY, included_tokens=1_000, overage_per_1m_micro=2_000_000)
        )
    )
    gov = Governance(redis_client, monthly, tmp_path)
    for i, tokens in enumerate((600, 600, 600)):
        admission = await gov.gate.admit(request(monthly, f"m{i}", prompt=tokens))
        gov.billing.finish(admission, result(prompt=tokens))
        await gov.flush()
    costs = [int(r["cost_pico"]) for r in await ledger_records(redis_client)]  # type: ignore[call-overload]
    assert costs == [0, 200 * 2_000_000, 600 * 2_000_000]

    per_call = holder_for(
        snapshot(billing=Billing(kind=BillingKind.PER_CALL, price_per_call_micro=5_000), tenants=("calls",))
    )
    gov = Governance(redis_client, per_call, tmp_path / "b")
    ok = await gov.gate.admit(request(per_call, "c-ok", tenant="calls"))
    failed = await gov.gate.admit(request(per_call, "c-err", tenant="calls"))
    assert ok.reserved_cost_pico == 5_000 * 1_000_000
    gov.billing.finish(ok, result(prompt=10, completion=0))
    gov.billing.finish(failed, result(RequestOutcome.UPSTREAM_ERROR))
    await gov.flush()
    usage = await totals(redis_client, "calls")
    assert usage["cost_pico"] == 5_000 * 1_000_000
    assert usage["billable_requests"] == 1
    assert usage["requests"] == 2


async def test_explicit_zero_usage_is_billed_as_zero(redis_client: aioredis.Redis, tmp_path: Path) -> None:
    holder = holder_for(snapshot())
    gov = Governance(redis_client, holder, tmp_path)
    admission = await gov.gate.admit(request(holder, "z", prompt=500, output=256))
    assert admission.reserved_cost_pico == 500 * 1_000_000 + 256 * 2_000_000
    gov.billing.finish(admission, result(prompt=0, completion=0))
    await gov.flush()
    (record,) = await ledger_records(redis_client)
    assert (record["prompt_tokens"], record["completion_tokens"], record["cost_pico"]) == (0, 0, 0)
    assert record["estimated"] is False

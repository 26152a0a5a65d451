"""Pure parts of governance: policy compile, header parsing, reset formatting, billing math, caches."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from control_plane.model import (
    ApiKey,
    Billing,
    BillingKind,
    LedgerRecord,
    Limits,
    Plan,
    Price,
    RegistrySpec,
    RequestOutcome,
    Snapshot,
    Tenant,
)
from ext_proc.errors import InsufficientQuotaError, RateLimitedError, error_reply
from ext_proc.governance.auth import extract_credential, looks_like_jwt
from ext_proc.governance.key_cache import KeyCache
from ext_proc.governance.local_limiter import LocalLimiter
from ext_proc.governance.policies import PolicyTableHolder, compile_policy_table
from ext_proc.governance.quota import refusal_error
from ext_proc.governance.rate_headers import BucketState, format_reset, rate_limit_headers, retry_after_s
from ext_proc.governance.settlement import BillingTerms, RecordFields, SettleCommand, cost_for, period_keys

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2025, 6, 1, tzinfo=UTC)


def spec() -> RegistrySpec:
    return RegistrySpec(
        plans=(Plan(name="gold", limits=Limits(requests_per_minute=60, tokens_per_minute=1_000)),),
        tenants=(
            Tenant(id="a", plan="gold"),
            Tenant(id="b", plan="gold", overrides=Limits(tokens_per_minute=None, daily_tokens=5)),
        ),
        prices=(
            Price(model="m", effective_from=T0, input_per_1m_micro=1),
            Price(model="m", effective_from=T1, input_per_1m_micro=2),
        ),
    )


def test_policy_table_applies_overrides_and_versions_prices() -> None:
    table = compile_policy_table(Snapshot(version=4, spec=spec()))
    assert table.version == 4
    a, b = table.policy("a"), table.policy("b")
    assert a is not None
    assert b is not None
    assert (a.limits.requests_per_minute, a.limits.tokens_per_minute, a.limits.daily_tokens) == (
        60,
        1000,
        None,
    )
    assert (b.limits.requests_per_minute, b.limits.tokens_per_minute, b.limits.daily_tokens) == (60, None, 5)
    assert table.policy("nobody") is None
    assert table.price("m", datetime(2024, 1, 1, tzinfo=UTC)) is None
    price = table.price("m", datetime(2025, 3, 1, tzinfo=UTC))
    assert price is not None
    assert price.input_per_1m_micro == 1
    price = table.price("m", T1)
    assert price is not None
    assert price.input_per_1m_micro == 2
    assert sorted(table.tenants()) == ["a", "b"]


def test_holder_keeps_the_previous_table_when_a_snapshot_does_not_compile() -> None:
    holder = PolicyTableHolder()
    assert holder.load(Snapshot(version=1, spec=spec()))
    broken = RegistrySpec.model_construct(plans=(), tenants=(Tenant(id="x", plan="missing"),), prices=())
    assert not holder.load(Snapshot.model_construct(version=2, spec=broken))
    assert holder.current is not None
    assert holder.current.version == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"authorization": "Bearer tw-abc"}, "tw-abc"),
        ({"authorization": "bearer  tw-abc "}, "tw-abc"),
        ({"authorization": "Basic Zm9v", "api-key": "k1"}, "k1"),
        ({"api-key": "k1", "x-api-key": "k2"}, "k1"),
        ({"x-api-key": "k2"}, "k2"),
        ({"authorization": "Bearer ", "x-api-key": "k2"}, "k2"),
        ({}, None),
    ],
)
def test_credential_precedence(headers: dict[str, str], expected: str | None) -> None:
    assert extract_credential(headers) == expected


def test_jwt_shape() -> None:
    assert looks_like_jwt("a.b.c")
    assert not looks_like_jwt("tw-abc")
    assert not looks_like_jwt("a..c")
    assert not looks_like_jwt("a.b.c.d")


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0ms"), (120, "120ms"), (999, "999ms"), (1000, "1s"), (1500, "1.5s"), (1234, "1.234s"),
     (60_000, "1m0s"), (360_000, "6m0s"), (90_500, "1m30.5s"), (3_723_000, "1h2m3s")],
)  # fmt: skip
def test_reset_is_formatted_like_openai(ms: int, text: str) -> None:
    assert format_reset(ms) == text


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert [retry_after_s(ms) for ms in (0, 1, 999, 1000, 1001, 2500)] == [1, 1, 1, 1, 2, 3]


def test_rate_limit_headers_and_refusal_errors() -> None:
    headers = rate_limit_headers(BucketState(60, 59, 1000), None)
    assert headers == (
        ("x-ratelimit-limit-requests", "60"),
        ("x-ratelimit-remaining-requests", "59"),
        ("x-ratelimit-reset-requests", "1s"),
    )
    error = refusal_error("tok", 1500, Limits(tokens_per_minute=1000), headers)
    assert isinstance(error, RateLimitedError)
    assert error.type == "tokens"
    reply = error_reply(error, request_id="r")
    assert reply.status == 429
    assert ("retry-after", "2") in reply.headers
    assert ("x-ratelimit-limit-requests", "60") in reply.headers
    quota = refusal_error("budget", -1, Limits(), ())
    assert isinstance(quota, InsufficientQuotaError)
    body = orjson.loads(error_reply(quota, request_id="r").body)["error"]
    assert (body["type"], body["code"]) == ("insufficient_quota", "insufficient_quota")


PRICE = Price(model="m", effective_from=T0, input_per_1m_micro=150_000, output_per_1m_micro=600_000,
              cached_input_per_1m_micro=75_000)  # fmt: skip


def test_billing_math_per_kind() -> None:
    per_token = BillingTerms.of(Plan(name="p"))
    cost, billable = cost_for(
        per_token,
        PRICE,
        outcome=RequestOutcome.OK,
        prompt_tokens=1000,
        completion_tokens=10,
        cached_tokens=400,
    )
    assert (cost, billable) == (str(600 * 150_000 + 400 * 75_000 + 10 * 600_000), 1)
    zero = cost_for(
        per_token, PRICE, outcome=RequestOutcome.OK, prompt_tokens=0, completion_tokens=0, cached_tokens=0
    )
    assert zero == ("0", 0)  # explicit zero usage is billed as zero
    per_call = BillingTerms.of(
        Plan(name="p", billing=Billing(kind=BillingKind.PER_CALL, price_per_call_micro=7))
    )
    assert cost_for(per_call, None, outcome=RequestOutcome.OK, prompt_tokens=5, completion_tokens=5,
                    cached_tokens=0) == ("7000000", 1)  # fmt: skip
    assert cost_for(per_call, None, outcome=RequestOutcome.UPSTREAM_ERROR, prompt_tokens=5,
                    completion_tokens=5, cached_tokens=0) == ("0", 0)  # fmt: skip
    monthly = BillingTerms(BillingKind.MONTHLY, 0, 1000, 5)
    assert cost_for(monthly, None, outcome=RequestOutcome.OK, prompt_tokens=1, completion_tokens=1,
                    cached_tokens=0) == ("", 1)  # fmt: skip
    assert BillingTerms.from_json(orjson.loads(orjson.dumps(monthly.to_json()))) == monthly


def test_record_json_completed_by_the_script_is_a_valid_ledger_record() -> None:
    fields = RecordFields(request_id="r1", tenant="a", key_id="k", model="m", outcome=RequestOutcome.OK,
                          started_at=T0, finished_at=T1, prompt_tokens=3, completion_tokens=4,
                          stream=True)  # fmt: skip
    record = LedgerRecord.model_validate_json(fields.cost_prefix() + "12345}")
    assert (record.cost_pico, record.total_tokens, record.stream) == (12345, 7, True)
    prefix, suffix = fields.error_code_affixes()
    rejected = LedgerRecord.model_validate_json(prefix + "insufficient_quota" + suffix)
    assert (rejected.error_code, rejected.cost_pico) == ("insufficient_quota", 0)
    command = SettleCommand("a", "r1", ("k1", "k2"), ("x", ""))
    assert SettleCommand.from_line(command.to_line()) == command
    assert period_keys("a", datetime(2025, 2, 3, 23, 59, tzinfo=UTC)) == (
        "tw:{t:a}:usage:2025-02",
        "tw:{t:a}:usage:2025-02-03",
    )


def test_key_cache_is_bounded_and_negative_entries_expire() -> None:
    now = [0.0]
    cache = KeyCache(max_entries=2, negative_ttl_s=1.0, clock=lambda: now[0])
    key, _ = ApiKey.issue(tenant="a", now=T0)
    cache.put("h1", key, generation=cache.generation)
    cache.put("h2", None, generation=cache.generation)
    assert cache.get("h1") is not None  # h1 is now the most recent
    cache.put("h3", key, generation=cache.generation)
    assert len(cache) == 2
    assert cache.get("h2") is None
    assert cache.get("h1") is not None
    cache.put("h4", None, generation=cache.generation)
    now[0] = 1.5
    assert cache.get("h4") is None  # negative entry expired


def test_key_cache_ignores_a_read_that_raced_an_invalidation() -> None:
    cache = KeyCache(max_entries=10, negative_ttl_s=1.0)
    key, _ = ApiKey.issue(tenant="a", now=T0)
    generation = cache.generation
    cache.evict("h1")  # a revoke arrives while the read is in flight
    cache.put("h1", key, generation=generation)
    assert cache.get("h1") is None


def test_local_limiter_enforces_a_share_and_refuses_the_unknown() -> None:
    now = [0.0]
    limiter = LocalLimiter(replicas=2, clock=lambda: now[0])
    limits = Limits(requests_per_minute=10, max_concurrent_requests=3)
    admitted = [limiter.admit("t", limits, prompt=1, output=0, cost_pico=0, inflight=0) for _ in range(6)]
    assert admitted[:5] == [None] * 5
    refusal = admitted[5]
    assert refusal is not None
    assert refusal.dim == "rq"
    assert 0 < refusal.retry_ms <= 12_000
    now[0] = 12.0  # 5 per minute refill: one request back after 12 s
    assert limiter.admit("t", limits, prompt=1, output=0, cost_pico=0, inflight=0) is None
    conc = limiter.admit("u", limits, prompt=1, output=0, cost_pico=0, inflight=1)  # 3 // 2 = 1 slot
    assert conc is not None
    assert conc.dim == "conc"
    budget = Limits(monthly_budget_micro=10)
    unknown = limiter.admit("v", budget, prompt=1, output=0, cost_pico=1, inflight=0)
    assert unknown is not None
    assert unknown.dim == "unknown"
    limiter.observe("v", daily=None, monthly=None, budget_pico=100)
    assert limiter.admit("v", budget, prompt=1, output=0, cost_pico=50, inflight=0) is None
    over = limiter.admit("v", budget, prompt=1, output=0, cost_pico=1, inflight=0)
    assert over is not None
    assert over.dim == "budget"

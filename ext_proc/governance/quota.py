"""The `QuotaGate`: one Lua round trip admits a request against every limit of its tenant, atomically.

Dimensions (None = unlimited, from `TenantPolicy.limits`): requests / input / output / total tokens
per minute (continuous token buckets: capacity = limit, refill limit/60 per second, no window edges),
concurrent requests (leases in a zset, renewed while alive), daily and monthly tokens (UTC calendar
periods of `started_at`) and the monthly budget. At admission the request reserves its prompt tokens,
`reserved_output_tokens` and its estimated cost; it is admitted iff every dimension fits
(level + reservation ≤ limit), so a request that fits is never refused, and a refused one changes no
counter (it only gets its REJECTED ledger record, written by the same script).

Overshoot bound. Counters are exact and atomic; tokens counted against a limit can exceed it only by
what admitted requests produce beyond their reservation. With C = max concurrent requests, M = the
plan's output cap (`plan.max_output_tokens`) and R = the output reserve, the overshoot of any token
dimension is at most C * (M - R) + the prompt-estimate error (tiktoken vs the upstream's count): at
most C requests are in flight, each reserved R and may produce up to M. An overshoot only makes the
bucket level exceed its capacity, which delays later admissions until it drains — it is never lost.
Without a concurrency limit or an output cap the bound is unbounded by construction (documented, not
hidden); plans meant to be tight should set both.

Redis down: `closed` (default) answers 503 `quota_unavailable`; `local` admits against the
`LocalLimiter` (a per-replica share of every dimension; never unlimited). See `local_limiter`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import orjson
from redis.exceptions import RedisError

from control_plane.keys import (
    tenant_billed,
    tenant_inflight,
    tenant_ledger,
    tenant_rate,
    tenant_reservations,
    usage_field,
)
from control_plane.model import PICO_PER_MICRO, BillingKind, Limits, RequestOutcome, token_cost_pico
from control_plane.redis_client import RedisClient
from ext_proc.errors import (
    GatewayError,
    InsufficientQuotaError,
    InternalError,
    QuotaUnavailableError,
    RateLimitedError,
)
from ext_proc.governance.contracts import Admission, AdmissionRequest, BillingSink, PolicyTableSource
from ext_proc.governance.lease import LeaseBook
from ext_proc.governance.local_limiter import LocalLimiter
from ext_proc.governance.quota_scripts import ADMIT, USAGE_DAY_TTL_S, USAGE_MONTH_TTL_S
from ext_proc.governance.rate_headers import BucketState, format_reset, rate_limit_headers, retry_after_s
from ext_proc.governance.settlement import BillingTerms, RecordFields, opt_limit, period_keys

__all__ = ["RedisQuotaGate", "refusal_error"]

_logger = logging.getLogger(__name__)

_DIM_NAMES = {
    "rq": ("requests per minute (RPM)", "requests_per_minute", "requests"),
    "in": ("input tokens per minute", "input_tokens_per_minute", "tokens"),
    "out": ("output tokens per minute", "output_tokens_per_minute", "tokens"),
    "tok": ("tokens per minute (TPM)", "tokens_per_minute", "tokens"),
    "conc": ("concurrent requests", "max_concurrent_requests", "requests"),
}
_QUOTA_DIMS = frozenset({"daily", "monthly", "budget"})


def refusal_error(
    dim: str, retry_ms: int, limits: Limits, headers: tuple[tuple[str, str], ...]
) -> GatewayError:
    """The 429 for a refused dimension: `insufficient_quota` for budget/day/month, else rate limited."""
    if dim in _QUOTA_DIMS:
        return InsufficientQuotaError(headers=headers)
    what, field, kind = _DIM_NAMES[dim]
    limit = getattr(limits, field)
    if retry_ms < 0:
        return RateLimitedError(
            f"Request too large for your {what} limit ({limit}). Reduce the prompt or max_tokens.",
            kind=kind,
            headers=headers,
        )
    return RateLimitedError(
        f"Rate limit reached for {what}: limit {limit}. Please try again in {format_reset(retry_ms)}.",
        kind=kind,
        headers=(*headers, ("retry-after", str(retry_after_s(retry_ms)))),
    )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _opt_int(value: object) -> int | None:
    text = _text(value)
    return int(text) if text else None


def _bucket(limit: object, remaining: object, reset_ms: object) -> BucketState | None:
    lim = int(_text(limit))
    return None if lim < 0 else BucketState(lim, int(_text(remaining)), int(_text(reset_ms)))


def _now() -> datetime:
    return datetime.now(UTC)


class RedisQuotaGate:
    """Admits requests with the ADMIT script; falls back per `failure_mode` when Redis fails."""

    def __init__(
        self,
        client: RedisClient,
        policies: PolicyTableSource,
        leases: LeaseBook,
        billing: BillingSink,
        *,
        lease_ttl_s: float = 60.0,
        dedupe_ttl_s: int = 7 * 86_400,
        failure_mode: Literal["closed", "local"] = "closed",
        degraded_replicas: int = 2,
        timeout_s: float = 2.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._client = client
        self._policies = policies
        self._leases = leases
        self._billing = billing
        self._lease_ms = int(lease_ttl_s * 1000)
        self._dedupe_ttl_s = dedupe_ttl_s
        self._failure_mode = failure_mode
        self._timeout_s = timeout_s
        self._clock = clock
        self.local = LocalLimiter(replicas=degraded_replicas)
        self._admit = client.register_script(ADMIT)

    async def admit(self, request: AdmissionRequest) -> Admission:
        policy, principal = request.policy, request.principal
        tenant, limits = principal.tenant, policy.limits
        table = self._policies.current
        price = table.price(request.model, request.started_at) if table is not None else None
        terms = BillingTerms.of(policy.plan)
        prompt, output = request.prompt_tokens, request.reserved_output_tokens
        if terms.kind is BillingKind.PER_TOKEN:
            cost = str(
                token_cost_pico(price, prompt_tokens=prompt, completion_tokens=output, cached_tokens=0)
            )
        elif terms.kind is BillingKind.PER_CALL:
            cost = str(terms.price_per_call_micro * PICO_PER_MICRO)
        else:
            cost = ""
        price_version = price.version if price is not None else ""
        reservation = orjson.dumps(
            {
                "tenant": tenant,
                "key_id": principal.key_id,
                "model": request.model,
                "stream": request.stream,
                "prompt": prompt,
                "output": output,
                "started_at": request.started_at,
                "price_version": price_version,
                "billing": terms.to_json(),
            }
        ).decode()
        record = RecordFields(
            request_id=request.request_id,
            tenant=tenant,
            key_id=principal.key_id,
            model=request.model,
            outcome=RequestOutcome.REJECTED,
            started_at=request.started_at,
            finished_at=self._clock(),
            status_code=429,
            stream=request.stream,
        )
        prefix, suffix = record.error_code_affixes()
        month, day = period_keys(tenant, request.started_at)
        keys = [
            tenant_rate(tenant),
            tenant_inflight(tenant),
            tenant_reservations(tenant),
            month,
            day,
            tenant_ledger(tenant),
            tenant_billed(tenant, request.request_id),
        ]
        budget = limits.monthly_budget_micro
        args = [
            request.request_id,
            opt_limit(limits.requests_per_minute),
            opt_limit(limits.input_tokens_per_minute),
            opt_limit(limits.output_tokens_per_minute),
            opt_limit(limits.tokens_per_minute),
            opt_limit(limits.max_concurrent_requests),
            opt_limit(limits.daily_tokens),
            opt_limit(limits.monthly_tokens),
            opt_limit(None if budget is None else budget * PICO_PER_MICRO),
            str(prompt),
            str(output),
            cost,
            str(terms.included_tokens),
            str(terms.overage_per_1m_micro),
            str(self._lease_ms),
            reservation,
            prefix,
            suffix,
            str(self._dedupe_ttl_s),
            usage_field(request.model, "", ""),
            str(USAGE_MONTH_TTL_S),
            str(USAGE_DAY_TTL_S),
        ]
        try:
            async with asyncio.timeout(self._timeout_s):
                reply = await self._admit(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            _logger.warning("quota admission failed (%s); mode %s", type(exc).__name__, self._failure_mode)
            return self._degraded(request, cost)
        status, dim, retry_ms = int(reply[0]), _text(reply[1]), int(reply[2])
        headers = rate_limit_headers(_bucket(*reply[3:6]), _bucket(*reply[6:9]))
        self.local.observe(
            tenant, daily=_opt_int(reply[10]), monthly=_opt_int(reply[11]), budget_pico=_opt_int(reply[12])
        )
        if status == -1:
            _logger.error("request id %s admitted twice; refusing the second", request.request_id)
            raise InternalError()
        if status == 0:
            raise refusal_error(dim, retry_ms, limits, headers)
        self._leases.hold(tenant, request.request_id, local=False)
        return Admission(request=request, reserved_cost_pico=int(_text(reply[9])), rate_limit_headers=headers)

    def _degraded(self, request: AdmissionRequest, cost: str) -> Admission:
        principal, limits = request.principal, request.policy.limits
        if self._failure_mode == "closed":
            self._reject(request, 503, "quota_unavailable")
            raise QuotaUnavailableError()
        terms = BillingTerms.of(request.policy.plan)
        tokens = request.prompt_tokens + request.reserved_output_tokens
        cost_pico = int(cost) if cost else tokens * terms.overage_per_1m_micro  # monthly: as if all overage
        refusal = self.local.admit(
            principal.tenant,
            limits,
            prompt=request.prompt_tokens,
            output=request.reserved_output_tokens,
            cost_pico=cost_pico,
            inflight=self._leases.local_count(principal.tenant),
        )
        if refusal is not None:
            if refusal.dim == "unknown":
                self._reject(request, 503, "quota_unavailable")
                raise QuotaUnavailableError()
            error = refusal_error(refusal.dim, refusal.retry_ms, limits, ())
            self._reject(request, 429, error.code)
            raise error
        self._leases.hold(principal.tenant, request.request_id, local=True)
        return Admission(request=request, reserved_cost_pico=cost_pico, local_only=True)

    def _reject(self, request: AdmissionRequest, status: int, code: str) -> None:
        self._billing.reject(
            request_id=request.request_id,
            principal=request.principal,
            model=request.model,
            status_code=status,
            error_code=code,
            stream=request.stream,
            started_at=request.started_at,
            limits=request.policy.limits,
        )

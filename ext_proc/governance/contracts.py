"""What the request processors need from governance (auth, quotas, billing), as values and Protocols.

The inference processor drives one request through these calls, in this order:

    principal = await authenticator.authenticate(headers)          # request headers; 401 / 503
    policy = policies.current.policy(principal.tenant)              # None → 401 (tenant deleted)
    ... body parsed, model resolved, allow-lists checked (403), prompt tokens estimated ...
    admission = await gate.admit(AdmissionRequest(...))             # request body; 429 / 503
    ... upstream answers; usage read from the JSON body or the SSE usage chunk ...
    billing.finish(admission, RequestResult(...))                   # exactly once per admission

A request refused after authentication (403, 429, 400 after auth) is billed with `billing.reject(...)`
so that it still gets its one ledger record. `finish` and `reject` never block and never raise: they
queue the write; the ledger writer retries, spools to disk while Redis is down and replays later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from control_plane.model import Limits, Plan, Price, RequestOutcome, Tenant

__all__ = [
    "Admission",
    "AdmissionRequest",
    "Authenticator",
    "BillingSink",
    "PolicyTable",
    "PolicyTableSource",
    "Principal",
    "QuotaGate",
    "RequestResult",
    "TenantPolicy",
]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the tenant billed, the key (or `jwt:<subject>`), the key's own model allow-list."""

    tenant: str
    key_id: str
    allowed_models: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    """A tenant with its plan and its effective limits (plan limits with the tenant's overrides)."""

    tenant: Tenant
    plan: Plan
    limits: Limits


class PolicyTable(Protocol):
    """Tenants, plans and prices of one registry snapshot, compiled for lookups on the hot path."""

    @property
    def version(self) -> int: ...

    def policy(self, tenant: str) -> TenantPolicy | None: ...

    def price(self, model: str, when: datetime) -> Price | None: ...


class PolicyTableSource(Protocol):
    @property
    def current(self) -> PolicyTable | None: ...


class Authenticator(Protocol):
    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller of a request; raises `InvalidApiKeyError` (401) or `AuthUnavailableError` (503)."""
        ...


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    request_id: str
    principal: Principal
    policy: TenantPolicy
    model: str
    """Canonical model name."""
    stream: bool
    prompt_tokens: int
    """Estimated with tiktoken."""
    reserved_output_tokens: int
    """min(the request's max tokens, the plan's `output_reserve_tokens`); 0 for embeddings."""
    started_at: datetime


@dataclass(frozen=True, slots=True)
class Admission:
    """A request let in: what was reserved, and the OpenAI `x-ratelimit-*` headers to return with it."""

    request: AdmissionRequest
    reserved_cost_pico: int
    rate_limit_headers: tuple[tuple[str, str], ...] = ()
    local_only: bool = False
    """Admitted by the degraded per-replica limiter while Redis was unreachable."""


class QuotaGate(Protocol):
    async def admit(self, request: AdmissionRequest) -> Admission:
        """Reserve the request's tokens and cost, take a concurrency lease, count the request.

        Raises `RateLimitedError` (429 + Retry-After + x-ratelimit-*), `InsufficientQuotaError` (429
        `insufficient_quota`: budget or daily/monthly tokens exhausted) or `QuotaUnavailableError` (503,
        Redis down in fail-closed mode). A refused request is recorded in the ledger by the gate.
        """
        ...


@dataclass(frozen=True, slots=True)
class RequestResult:
    """How an admitted request ended. Token counts are upstream-reported unless `estimated`."""

    outcome: RequestOutcome
    status_code: int
    finished_at: datetime
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    estimated: bool = False
    backend: str = ""
    error_code: str = ""
    cache_hit: bool = False


class BillingSink(Protocol):
    def finish(self, admission: Admission, result: RequestResult) -> None:
        """Settle the reservation to `result` and append the ledger record (queued; never raises)."""
        ...

    def reject(
        self,
        *,
        request_id: str,
        principal: Principal,
        model: str,
        status_code: int,
        error_code: str,
        stream: bool,
        started_at: datetime,
        limits: Limits | None = None,
    ) -> None:
        """Record a request refused before admission (400/403 after auth, or by the gate).

        `limits` (the gate passes the tenant's) lets the settlement release bucket charges of an
        admission whose reply was lost (a timeout after Redis ran the script).
        """
        ...

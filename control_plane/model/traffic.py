"""Per-model traffic policy: load balancing, retries, timeouts, outlier detection, circuit breakers and
active health checks. Envoy enforces all of it; xds translates these values and nothing else.

Defaults are chosen for LLM serving: generations run for minutes (no total timeout, idle timeouts
instead), pools are small (a few GPU servers, so ejection may take a whole priority out and let the
fallback serve), and a 429 from a provider is a hint to wait (`Retry-After`), not a sign of sickness.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from control_plane.model.headers import gateway_managed_header

__all__ = [
    "CircuitBreakers",
    "HeaderName",
    "HealthCheck",
    "LbPolicy",
    "LoadBalancing",
    "OutlierDetection",
    "RetryCondition",
    "RetryPolicy",
    "Timeouts",
    "TrafficPolicy",
]

HeaderName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="an HTTP header name, lower-case (as HTTP/2 and Envoy see it)",
    ),
]


def _check_header(name: str) -> str:
    if gateway_managed_header(name):
        raise ValueError(f"header {name!r} is managed by the gateway and cannot be used here")
    return name


class LbPolicy(StrEnum):
    LEAST_REQUEST = "least_request"
    """Power of two choices on active requests: the right default for long, uneven generations."""
    ROUND_ROBIN = "round_robin"
    RING_HASH = "ring_hash"
    """Consistent hashing on `hash_header` (e.g. a session id) so a conversation keeps hitting the same
    server and reuses its prefix cache; falls back to a random pick when the header is absent."""


class LoadBalancing(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: LbPolicy = LbPolicy.LEAST_REQUEST
    hash_header: HeaderName | None = Field(
        default=None, description="request header hashed by ring_hash (required for it, refused otherwise)"
    )

    @model_validator(mode="after")
    def _check(self) -> LoadBalancing:
        if self.policy is LbPolicy.RING_HASH and self.hash_header is None:
            raise ValueError("ring_hash needs hash_header (the request header to hash on)")
        if self.policy is not LbPolicy.RING_HASH and self.hash_header is not None:
            raise ValueError("hash_header is only used by ring_hash")
        if self.hash_header is not None:
            _check_header(self.hash_header)
        return self


class RetryCondition(StrEnum):
    """Envoy's `retry_on` conditions that make sense in front of model servers."""

    CONNECT_FAILURE = "connect-failure"
    RESET = "reset"
    """The upstream reset the stream or closed the connection before any response byte."""
    SERVER_ERROR = "5xx"
    GATEWAY_ERROR = "gateway-error"
    """502, 503, 504 only (a subset of 5xx)."""
    RETRIABLE_STATUS_CODES = "retriable-status-codes"
    """Any status listed in `retriable_status_codes` (429 and 503 by default)."""


class RetryPolicy(BaseModel):
    """Retries happen only before the first response byte reached the client: a stream that already
    delivered tokens is never replayed (the client would get the start twice)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=2, ge=0, le=10, description="retries after the first try (0 = none)")
    retry_on: tuple[RetryCondition, ...] = (
        RetryCondition.CONNECT_FAILURE,
        RetryCondition.RESET,
        RetryCondition.SERVER_ERROR,
        RetryCondition.RETRIABLE_STATUS_CODES,
    )
    retriable_status_codes: tuple[Annotated[int, Field(ge=400, le=599)], ...] = (429, 503)
    backoff_base_ms: int = Field(default=100, ge=1, le=60_000, description="first backoff (jittered)")
    backoff_max_ms: int = Field(default=1_000, ge=1, le=300_000)
    honor_retry_after: bool = Field(
        default=True, description="wait what the upstream's `Retry-After` (seconds) says before retrying"
    )
    retry_after_max_s: float = Field(
        default=10.0,
        gt=0.0,
        le=300.0,
        description="a longer Retry-After is not honoured by waiting (the normal backoff applies)",
    )
    other_host: bool = Field(default=True, description="a retry avoids the hosts already tried")
    tries_per_priority: int = Field(
        default=1,
        ge=1,
        le=10,
        description="tries spent on one priority before a retry moves to the next (fallback) priority",
    )
    budget_percent: float = Field(
        default=25.0,
        gt=0.0,
        le=100.0,
        description="retries in flight may be at most this share of requests in flight (retry storm guard)",
    )
    min_retry_concurrency: int = Field(default=5, ge=1, le=10_000, description="retries always allowed")

    @model_validator(mode="after")
    def _check(self) -> RetryPolicy:
        if self.backoff_max_ms < self.backoff_base_ms:
            raise ValueError("backoff_max_ms must be at least backoff_base_ms")
        if len(set(self.retry_on)) != len(self.retry_on):
            raise ValueError("retry_on lists a condition twice")
        if len(set(self.retriable_status_codes)) != len(self.retriable_status_codes):
            raise ValueError("retriable_status_codes lists a status twice")
        return self


class Timeouts(BaseModel):
    """There is no total request timeout: a generation may run for many minutes while it makes progress."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first_byte_s: float = Field(
        default=30.0,
        gt=0.0,
        le=3600.0,
        description="streaming requests: a try that sends no response byte within this fails over",
    )
    response_s: float | None = Field(
        default=None,
        gt=0.0,
        le=86_400.0,
        description="non-streaming requests: a try without its answer within this fails over (none: no cap)",
    )
    idle_s: float = Field(
        default=300.0, gt=0.0, le=3600.0, description="max silence between two bytes of a response"
    )


class OutlierDetection(BaseModel):
    """Passive health: hosts answering with consecutive errors are ejected for a while, doubling each time.

    Tuned for small pools: one bad server of two must be ejectable (Envoy's default caps ejection at 10%
    of hosts, which ejects nobody in a pool of two), and a priority whose hosts are all ejected hands its
    traffic to the next priority.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    consecutive_5xx: int = Field(default=3, ge=1, le=1000, description="5xx (and connect failures) in a row")
    interval_s: float = Field(default=2.0, gt=0.0, le=300.0, description="how often ejections are reviewed")
    base_ejection_s: float = Field(default=10.0, gt=0.0, le=3600.0, description="first ejection's length")
    max_ejection_s: float = Field(default=120.0, gt=0.0, le=86_400.0)
    max_ejection_percent: int = Field(default=100, ge=1, le=100)

    @model_validator(mode="after")
    def _check(self) -> OutlierDetection:
        if self.max_ejection_s < self.base_ejection_s:
            raise ValueError("max_ejection_s must be at least base_ejection_s")
        return self


class CircuitBreakers(BaseModel):
    """Caps per model (per Envoy). vLLM speaks HTTP/1.1: one connection per request in flight."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_connections: int = Field(default=1024, ge=1, le=1_000_000)
    max_pending_requests: int = Field(
        default=256, ge=1, le=1_000_000, description="requests waiting for a connection; more get a 503"
    )
    max_requests: int = Field(default=1024, ge=1, le=1_000_000, description="requests in flight")


class HealthCheck(BaseModel):
    """Active HTTP health check of every backend (vLLM: `/health`). Off unless configured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(default="/health", pattern=r"^/[A-Za-z0-9._~/-]*$", max_length=256)
    interval_s: float = Field(default=5.0, gt=0.0, le=300.0)
    timeout_s: float = Field(default=2.0, gt=0.0, le=60.0)
    unhealthy_threshold: int = Field(default=2, ge=1, le=100)
    healthy_threshold: int = Field(default=1, ge=1, le=100)

    @model_validator(mode="after")
    def _check(self) -> HealthCheck:
        if self.timeout_s > self.interval_s:
            raise ValueError("health check timeout_s must not exceed interval_s")
        return self


class TrafficPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    load_balancing: LoadBalancing = LoadBalancing()
    retry: RetryPolicy = RetryPolicy()
    timeouts: Timeouts = Timeouts()
    outlier_detection: OutlierDetection = OutlierDetection()
    circuit_breakers: CircuitBreakers = CircuitBreakers()
    health_check: HealthCheck | None = None

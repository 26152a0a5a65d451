"""Per-tenant local rate limit: a cheap per-Envoy first line in front of ext_proc's shared quota.

The `envoy.filters.http.local_ratelimit` filter sits after ext_proc and before the router. ext_proc sets
`x-tollway-tenant` on the request-body reply (with `clear_route_cache`), and only then does Envoy run
the filters after it, so the limiter sees the tenant. The rules live on the virtual host
(`typed_per_filter_config`), in RDS: a tenant or plan change updates the route configuration only and
never drains the listener. One virtual host holds every model route, so a tenant has one bucket per
Envoy process whatever the model (per-route configs would give one bucket per route). Buckets start
full again whenever the route configuration changes; the exact limit is ext_proc's Redis quota.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from envoy_data_plane.envoy.config.core.v3 import (
    HeaderValue,
    HeaderValueOption,
    HeaderValueOptionHeaderAppendAction,
    RuntimeFractionalPercent,
)
from envoy_data_plane.envoy.config.route.v3 import (
    RateLimit,
    RateLimitAction,
    RateLimitActionRequestHeaders,
)
from envoy_data_plane.envoy.extensions.common.ratelimit.v3 import (
    LocalRateLimitDescriptor,
    RateLimitDescriptorEntry,
    XRateLimitHeadersRfcVersion,
)
from envoy_data_plane.envoy.extensions.filters.http.local_ratelimit.v3 import LocalRateLimit
from envoy_data_plane.envoy.type.v3 import FractionalPercent, FractionalPercentDenominatorType, TokenBucket

from control_plane.model import TENANT_HEADER, Snapshot

__all__ = [
    "LOCAL_RATELIMIT_FILTER",
    "TENANT_DESCRIPTOR_KEY",
    "TenantRequestLimit",
    "listener_local_ratelimit",
    "tenant_local_ratelimit",
    "tenant_request_limits",
]

LOCAL_RATELIMIT_FILTER = "envoy.filters.http.local_ratelimit"
TENANT_DESCRIPTOR_KEY = "tenant"
_STAT_PREFIX = "tollway_tenant_rpm"
_FILL_INTERVAL = timedelta(seconds=1)
# Requests whose tenant has no rule (or carry no tenant) take a token from the default bucket; this one
# never runs dry. The largest uint32 a TokenBucket accepts, refilled to the brim every second.
_UNLIMITED = 2**32 - 1
_RETRY_AFTER_S = 1


@dataclass(frozen=True, slots=True, order=True)
class TenantRequestLimit:
    """A tenant's effective `requests_per_minute` as an Envoy token bucket."""

    tenant: str
    requests_per_minute: int

    @property
    def max_tokens(self) -> int:
        """A full minute of requests as burst."""
        return self.requests_per_minute

    @property
    def tokens_per_fill(self) -> int:
        """Refilled every second by a sixtieth of the minute's allowance (at least one request)."""
        return max(1, math.ceil(self.requests_per_minute / 60))


def tenant_request_limits(snapshot: Snapshot) -> list[TenantRequestLimit]:
    """Tenants whose plan limits (with the tenant's overrides) set `requests_per_minute`, by tenant id."""
    limits: list[TenantRequestLimit] = []
    for tenant in snapshot.spec.tenants:
        plan = snapshot.spec.plan(tenant.plan)
        if plan is None:  # a consistent registry never has this; such a tenant cannot pass ext_proc
            continue
        rpm = plan.limits.overridden_by(tenant.overrides).requests_per_minute
        if rpm is not None:
            limits.append(TenantRequestLimit(tenant.id, rpm))
    return sorted(limits)


def _always() -> RuntimeFractionalPercent:
    return RuntimeFractionalPercent(
        default_value=FractionalPercent(numerator=100, denominator=FractionalPercentDenominatorType.HUNDRED)
    )


def _bucket(max_tokens: int, tokens_per_fill: int) -> TokenBucket:
    return TokenBucket(max_tokens=max_tokens, tokens_per_fill=tokens_per_fill, fill_interval=_FILL_INTERVAL)


def _descriptor(limit: TenantRequestLimit) -> LocalRateLimitDescriptor:
    return LocalRateLimitDescriptor(
        entries=[RateLimitDescriptorEntry(key=TENANT_DESCRIPTOR_KEY, value=limit.tenant)],
        token_bucket=_bucket(limit.max_tokens, limit.tokens_per_fill),
    )


def listener_local_ratelimit() -> LocalRateLimit:
    """The filter as the listener declares it: no bucket, so nothing is limited unless a virtual host
    of the route configuration brings `tenant_local_ratelimit`."""
    return LocalRateLimit(stat_prefix=_STAT_PREFIX)


def tenant_local_ratelimit(limits: list[TenantRequestLimit]) -> LocalRateLimit | None:
    """The virtual host's limiter: one descriptor `{tenant: <id>}` per limited tenant (None if none).

    The descriptor comes from the `x-tollway-tenant` request header; without the header no descriptor
    is produced and the request takes a token from the never-empty default bucket, as do tenants
    without a rule. Limited requests get 429 (turned into OpenAI JSON by the local reply config, flag
    RL) with `retry-after: 1`, since buckets refill every second.
    """
    if not limits:
        return None
    action = RateLimitAction(
        request_headers=RateLimitActionRequestHeaders(
            header_name=TENANT_HEADER, descriptor_key=TENANT_DESCRIPTOR_KEY
        )
    )
    retry_after = HeaderValueOption(
        header=HeaderValue(key="retry-after", value=str(_RETRY_AFTER_S)),
        append_action=HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    )
    return LocalRateLimit(
        stat_prefix=_STAT_PREFIX,
        token_bucket=_bucket(_UNLIMITED, _UNLIMITED),
        filter_enabled=_always(),
        filter_enforced=_always(),
        response_headers_to_add=[retry_after],
        descriptors=[_descriptor(limit) for limit in limits],
        always_consume_default_token_bucket=False,
        rate_limits=[RateLimit(actions=[action])],
        # Seen on 1.40: DRAFT_VERSION_03 adds x-ratelimit-limit/remaining/reset to every response, and
        # those through the default bucket say 4294967295; per-Envoy numbers would mislead clients.
        enable_x_ratelimit_headers=XRateLimitHeadersRfcVersion.OFF,
    )

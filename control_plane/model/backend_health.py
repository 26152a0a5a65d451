"""How each Envoy node sees the backends of every model: host health flags and counters.

Read from Envoy's admin API (`/clusters?format=json`, `/stats?format=json`) by `control_plane.envoy_admin`;
shown by `tollway status` and served by the admin API at `/admin/v1/status/backends`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEGRADED_FLAGS",
    "EXCLUDED_FLAGS",
    "MODEL_CLUSTER_PREFIX",
    "UNHEALTHY_EDS_STATUSES",
    "UNHEALTHY_FLAGS",
    "ClusterHealth",
    "HostHealth",
    "HostState",
    "NodeHealth",
    "host_state",
]

MODEL_CLUSTER_PREFIX = "model."
"""Envoy cluster of model M is `model.M` (xds/translate/endpoint.py); other clusters are Tollway's own."""

# Envoy's HostHealthStatus booleans (admin.v3.HostHealthStatus), by what they do to load balancing.
UNHEALTHY_FLAGS = frozenset({
    "failed_active_health_check",  # active health checks fail
    "failed_outlier_check",  # ejected by outlier detection
    "active_hc_timeout",  # the last active health check timed out
})  # fmt: skip
DEGRADED_FLAGS = frozenset({"failed_active_degraded_check"})
EXCLUDED_FLAGS = frozenset({
    "pending_active_hc",  # new host, not yet health checked: no traffic until the first check passes
    "excluded_via_immediate_hc_fail",  # answered a request with `x-envoy-immediate-health-check-fail`
})  # fmt: skip
# `pending_dynamic_removal` (gone from EDS, kept while it has connections) is reported but does not
# change the state: Envoy keeps the host while it still passes its checks.
UNHEALTHY_EDS_STATUSES = frozenset({"UNHEALTHY", "DRAINING", "TIMEOUT"})


class HostState(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"  # used only when no healthy host is left in its priority
    EXCLUDED = "excluded"  # not load balanced to, but not failed either
    UNHEALTHY = "unhealthy"


def host_state(flags: Iterable[str], eds_health_status: str = "") -> HostState:
    """What Envoy's health flags and EDS status mean for load balancing, worst first."""
    set_flags = frozenset(flags)
    if set_flags & UNHEALTHY_FLAGS or eds_health_status in UNHEALTHY_EDS_STATUSES:
        return HostState.UNHEALTHY
    if set_flags & EXCLUDED_FLAGS:
        return HostState.EXCLUDED
    if set_flags & DEGRADED_FLAGS or eds_health_status == "DEGRADED":
        return HostState.DEGRADED
    return HostState.HEALTHY


class HostHealth(BaseModel):
    """One backend (Envoy host) of one model cluster on one Envoy node; counters since Envoy started."""

    model_config = ConfigDict(frozen=True)

    backend: str = Field(default="", description='registry backend name; "" if no backend matches')
    address: str = Field(description="what Envoy connects to, `ip:port`")
    hostname: str = ""
    priority: int = 0
    weight: int = 1
    state: HostState = HostState.HEALTHY
    flags: tuple[str, ...] = Field(default=(), description="Envoy's HostHealthStatus booleans that are set")
    eds_health_status: str = ""
    success_rate: float | None = Field(default=None, description="outlier detection's, when computed")
    rq_active: int = 0
    rq_total: int = 0
    rq_success: int = 0
    rq_error: int = 0
    rq_timeout: int = 0
    cx_active: int = 0
    cx_total: int = 0
    cx_connect_fail: int = 0


class ClusterHealth(BaseModel):
    """A model's cluster on one node. Cluster counters are None when Envoy's stats could not be read."""

    model_config = ConfigDict(frozen=True)

    model: str
    cluster: str
    hosts: tuple[HostHealth, ...] = ()
    upstream_rq_5xx: int | None = None
    upstream_rq_retry: int | None = None
    ejections_active: int | None = None
    ejections_enforced_total: int | None = None


class NodeHealth(BaseModel):
    """One Envoy node's model clusters, or why they could not be read (`reachable` false, `error`)."""

    model_config = ConfigDict(frozen=True)

    node_id: str
    admin_url: str = ""
    reachable: bool
    error: str = ""
    clusters: tuple[ClusterHealth, ...] = ()

"""Model backends → one ClusterLoadAssignment (EDS, or inline in a STRICT_DNS cluster)."""

from __future__ import annotations

from itertools import groupby

from envoy_data_plane.envoy.config.core.v3 import Address, Metadata, SocketAddress
from envoy_data_plane.envoy.config.endpoint.v3 import (
    ClusterLoadAssignment,
    Endpoint,
    LbEndpoint,
    LocalityLbEndpoints,
)
from envoy_data_plane.google.protobuf import Struct

from control_plane.model import Backend, Model

__all__ = [
    "BACKEND_METADATA_KEY",
    "METADATA_NAMESPACE",
    "backend_address",
    "load_assignment",
    "model_cluster_name",
    "uses_dns",
]

_LOOPBACK_NAME = "localhost"
_LOOPBACK_IP = "127.0.0.1"
# Endpoint metadata `{"tollway": {"backend": <registry backend name>}}`: routes copy it into the
# `x-tollway-backend` response header so ext_proc can tell which backend served a request.
METADATA_NAMESPACE = "tollway"
BACKEND_METADATA_KEY = "backend"


def model_cluster_name(model: Model) -> str:
    """Envoy cluster of a model; Envoy sanitizes `/` and `:` in stat names itself."""
    return f"model.{model.name}"


def backend_address(backend: Backend) -> str:
    """What Envoy connects to: the IP literal, `localhost` pinned to IPv4 loopback, or a DNS name."""
    return _LOOPBACK_IP if backend.host == _LOOPBACK_NAME else backend.host


def _is_dns_named(backend: Backend) -> bool:
    return not backend.host_is_ip and backend.host != _LOOPBACK_NAME


def uses_dns(model: Model) -> bool:
    """True when some backend needs name resolution, which makes the model's cluster STRICT_DNS."""
    return any(_is_dns_named(b) for b in model.backends)


def _lb_endpoint(backend: Backend) -> LbEndpoint:
    return LbEndpoint(
        endpoint=Endpoint(
            address=Address(
                socket_address=SocketAddress(address=backend_address(backend), port_value=backend.port)
            ),
            hostname=backend.host,
        ),
        load_balancing_weight=backend.weight,
        metadata=Metadata(
            filter_metadata={METADATA_NAMESPACE: Struct.from_dict({BACKEND_METADATA_KEY: backend.name})}
        ),
    )


def load_assignment(model: Model) -> ClusterLoadAssignment:
    """Backends grouped by priority, weights as endpoint weights, sorted for stable output.

    Envoy wants priorities 0..N without gaps, so registry priorities (0, 2, 5) become (0, 1, 2): the
    fallback order is what matters, not the numbers.
    """
    ordered = sorted(model.backends, key=lambda b: (b.priority, b.name))
    groups = [
        LocalityLbEndpoints(priority=rank, lb_endpoints=[_lb_endpoint(b) for b in backends])
        for rank, (_, backends) in enumerate(groupby(ordered, key=lambda b: b.priority))
    ]
    return ClusterLoadAssignment(cluster_name=model_cluster_name(model), endpoints=groups)

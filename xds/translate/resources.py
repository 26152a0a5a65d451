"""The Envoy resources translated from one registry snapshot, keyed by resource name per type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from envoy_data_plane.envoy.config.cluster.v3 import Cluster, ClusterDiscoveryType
from envoy_data_plane.envoy.config.endpoint.v3 import ClusterLoadAssignment
from envoy_data_plane.envoy.config.listener.v3 import Listener
from envoy_data_plane.envoy.config.route.v3 import RouteConfiguration
from envoy_data_plane.envoy.extensions.filters.http.credential_injector.v3 import CredentialInjector
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
)
from envoy_data_plane.envoy.extensions.http.injected_credentials.generic.v3 import Generic
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import Secret
from envoy_data_plane.envoy.extensions.upstreams.http.v3 import HttpProtocolOptions

from xds.resource_type import ResourceType

__all__ = ["Resources"]


def _frozen(items: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(sorted(items.items())))


@dataclass(frozen=True, slots=True)
class Resources:
    """Frozen per-type maps name → betterproto message (sorted by name, so output is stable)."""

    clusters: Mapping[str, Cluster] = field(default_factory=dict)
    endpoints: Mapping[str, ClusterLoadAssignment] = field(default_factory=dict)
    listeners: Mapping[str, Listener] = field(default_factory=dict)
    routes: Mapping[str, RouteConfiguration] = field(default_factory=dict)
    secrets: Mapping[str, Secret] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("clusters", "endpoints", "listeners", "routes", "secrets"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def of_type(self, resource_type: ResourceType) -> Mapping[str, Any]:
        match resource_type:
            case ResourceType.CLUSTER:
                return self.clusters
            case ResourceType.ENDPOINT:
                return self.endpoints
            case ResourceType.LISTENER:
                return self.listeners
            case ResourceType.ROUTE:
                return self.routes
            case ResourceType.SECRET:
                return self.secrets

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Proto3-JSON of every resource, `{"cds": {name: {...}}, ...}` (golden files, debugging)."""
        return {
            t.short_name: {n: _proto_json_names(r.to_dict()) for n, r in self.of_type(t).items()}
            for t in ResourceType
        }

    def consistency_problems(self) -> list[str]:
        """go-control-plane's `Consistent()`: every reference between resources resolves."""
        problems: list[str] = []
        for name, cluster in self.clusters.items():
            if cluster.type == ClusterDiscoveryType.EDS and name not in self.endpoints:
                problems.append(f"EDS cluster {name!r} has no load assignment")
            problems.extend(
                f"cluster {name!r} uses unknown secret {secret!r}"
                for secret in _secret_names(cluster)
                if secret not in self.secrets
            )
        for name in self.endpoints:
            owner = self.clusters.get(name)
            if owner is None or owner.type != ClusterDiscoveryType.EDS:
                problems.append(f"load assignment {name!r} has no EDS cluster")
        for route_config in self.routes.values():
            for virtual_host in route_config.virtual_hosts:
                for route in virtual_host.routes:
                    target = route.route.cluster if route.route is not None else ""
                    if target and target not in self.clusters:
                        problems.append(f"route {route.name!r} points to unknown cluster {target!r}")
        for listener_name in self.listeners:
            for route_name in _rds_names(self.listeners[listener_name]):
                if route_name not in self.routes:
                    problems.append(f"listener {listener_name!r} uses unknown route config {route_name!r}")
        return problems


# betterproto2 camel-cases `consecutive_5xx` as `consecutive5Xx`; proto3 JSON (and Envoy) say
# `consecutive5xx`. Only the JSON view is affected: the wire format carries field numbers.
_JSON_NAME_FIXES = {"consecutive5Xx": "consecutive5xx", "enforcingConsecutive5Xx": "enforcingConsecutive5xx"}


def _proto_json_names(value: Any) -> Any:
    if isinstance(value, dict):
        return {_JSON_NAME_FIXES.get(k, k): _proto_json_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_proto_json_names(v) for v in value]
    return value


def _rds_names(listener: Listener) -> list[str]:
    names: list[str] = []
    for chain in listener.filter_chains:
        for network_filter in chain.filters:
            config = network_filter.typed_config
            if config is None:
                continue
            manager = config.unpack()
            if isinstance(manager, HttpConnectionManager) and manager.rds is not None:
                names.append(manager.rds.route_config_name)
    return names


def _secret_names(cluster: Cluster) -> list[str]:
    """The SDS secrets a cluster's credential filters refer to."""
    names: list[str] = []
    for options in cluster.typed_extension_protocol_options.values():
        protocol = options.unpack()
        if not isinstance(protocol, HttpProtocolOptions):
            continue
        for upstream_filter in protocol.http_filters:
            config = upstream_filter.typed_config.unpack() if upstream_filter.typed_config else None
            if isinstance(config, CredentialInjector) and config.credential is not None:
                generic = config.credential.typed_config.unpack() if config.credential.typed_config else None
                if isinstance(generic, Generic) and generic.credential is not None:
                    names.append(generic.credential.name)
    return names

"""The xDS resource types Tollway serves, in the order a change must reach Envoy."""

from __future__ import annotations

from enum import Enum

__all__ = ["PUSH_ORDER", "ResourceType"]


class ResourceType(Enum):
    """An xDS resource type: its short name (as in `NodeStatus.resources`) and its type URL."""

    CLUSTER = ("cds", "type.googleapis.com/envoy.config.cluster.v3.Cluster")
    ENDPOINT = ("eds", "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment")
    LISTENER = ("lds", "type.googleapis.com/envoy.config.listener.v3.Listener")
    ROUTE = ("rds", "type.googleapis.com/envoy.config.route.v3.RouteConfiguration")
    SECRET = ("sds", "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret")

    def __init__(self, short_name: str, type_url: str) -> None:
        self.short_name = short_name
        self.type_url = type_url

    @property
    def wildcard(self) -> bool:
        """CDS and LDS send every resource; EDS, RDS and SDS only the names Envoy asks for."""
        return self in (ResourceType.CLUSTER, ResourceType.LISTENER)

    @classmethod
    def from_type_url(cls, type_url: str) -> ResourceType | None:
        return _BY_TYPE_URL.get(type_url)


# Make-before-break: secrets (asked for by clusters being warmed), clusters, then their endpoints, then
# the listener, then the routes into them.
PUSH_ORDER: tuple[ResourceType, ...] = (
    ResourceType.SECRET,
    ResourceType.CLUSTER,
    ResourceType.ENDPOINT,
    ResourceType.LISTENER,
    ResourceType.ROUTE,
)

_BY_TYPE_URL: dict[str, ResourceType] = {t.type_url: t for t in ResourceType}

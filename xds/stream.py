"""The state machine of one SotW ADS stream (one Envoy node), free of gRPC and of any I/O.

Feed it Envoy's requests (`handle_request`) and cache changes (`handle_cache_change`); it returns the
responses to send, in order. Rules (go-control-plane's, plus Envoy behaviour measured here):

- answer a type only while Envoy has an open request for it: its first request, or the request that
  ACKs/NACKs our latest response (same nonce). Requests quoting an older nonce are stale: ignored.
- ACK: no `error_detail` and `version_info` equal to what we sent. NACK: `error_detail` set; recorded,
  and that version is not sent again (Envoy keeps its last good config and does not re-request).
- CDS and LDS are wildcard; EDS and RDS carry only the names Envoy asked for.
- push order CDS → EDS → LDS → RDS, and LDS/RDS of a new version wait until Envoy answered (ACK or
  NACK) the CDS of that version: routes may point at a cluster only once it is warm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from envoy_data_plane.envoy.config.core.v3 import ControlPlane, Node
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse

from control_plane.model import Nack, NodeStatus, ResourceStatus
from xds.cache import CacheView, SnapshotCache
from xds.resource_type import PUSH_ORDER, ResourceType

__all__ = ["ADMIN_URL_METADATA_KEY", "LISTENER_PORT_METADATA_KEY", "AdsStream", "RequestOutcome"]

_log = logging.getLogger(__name__)

LISTENER_PORT_METADATA_KEY = "tollway.listener_port"
# Where this Envoy's admin API answers (`http://host:port`), published in NodeStatus for `tollway status`.
ADMIN_URL_METADATA_KEY = "tollway.admin_url"
_GATED_ON_CLUSTERS = (ResourceType.LISTENER, ResourceType.ROUTE)


class RequestOutcome(Enum):
    """What one request from Envoy meant."""

    REQUEST = "request"  # first request of a type (or a new subscription without a nonce)
    ACK = "ack"
    NACK = "nack"
    STALE = "stale"  # quotes a nonce that is not our latest: ignored
    UNKNOWN_TYPE = "unknown_type"


@dataclass(slots=True)
class _TypeState:
    open_request: bool = False  # Envoy waits for a response of this type
    requested: bool = False  # Envoy asked for this type at least once on this stream
    names: frozenset[str] = frozenset()  # subscribed names (EDS, RDS)
    sent: bool = False
    sent_version: str = ""
    sent_names: frozenset[str] | None = None
    nonce: str = ""
    answered_version: str = ""  # last version we sent that Envoy ACKed or NACKed
    acked_version: str = ""
    last_nack: Nack | None = None

    def status(self) -> ResourceStatus:
        return ResourceStatus(
            sent_version=self.sent_version, acked_version=self.acked_version, last_nack=self.last_nack
        )


@dataclass(slots=True)
class _NodeIdentity:
    node_id: str = ""
    cluster: str = ""
    listener_port: int | None = None
    admin_url: str = ""
    known: bool = False


def _listener_port(node: Node, default: int) -> int:
    """The port a node asks for in its metadata (`tollway.listener_port`), else `default`."""
    value = node.metadata.fields.get(LISTENER_PORT_METADATA_KEY) if node.metadata is not None else None
    if value is None:
        return default
    port: int | None = None
    if value.number_value is not None and float(value.number_value).is_integer():
        port = int(value.number_value)
    elif value.string_value is not None and value.string_value.isdigit():
        port = int(value.string_value)
    if port is None or not 1 <= port <= 65535:
        _log.warning("node %r: ignoring invalid %s metadata", node.id, LISTENER_PORT_METADATA_KEY)
        return default
    return port


def _admin_url(node: Node) -> str:
    """The node's admin API URL from its metadata (`tollway.admin_url`), "" if absent or not http(s)."""
    value = node.metadata.fields.get(ADMIN_URL_METADATA_KEY) if node.metadata is not None else None
    url = (value.string_value or "") if value is not None else ""
    if url and not url.startswith(("http://", "https://")):
        _log.warning("node %r: ignoring invalid %s metadata", node.id, ADMIN_URL_METADATA_KEY)
        return ""
    return url.rstrip("/")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AdsStream:
    """One ADS stream's view of what Envoy has, wants and was sent."""

    def __init__(
        self, cache: SnapshotCache, *, instance_id: str = "", clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.cache = cache
        self.instance_id = instance_id
        self.clock = clock
        self.node = _NodeIdentity()
        self.connected_at: datetime | None = None
        self._types = {t: _TypeState() for t in ResourceType}
        self._nonce_counter = 0

    @property
    def node_id(self) -> str:
        return self.node.node_id

    @property
    def listener_port(self) -> int:
        port = self.node.listener_port
        return self.cache.default_listener_port if port is None else port

    def handle_request(self, request: DiscoveryRequest) -> tuple[RequestOutcome, list[DiscoveryResponse]]:
        """Record what `request` says and return the responses that became due."""
        if self.connected_at is None:
            self.connected_at = self.clock()
        if not self.node.known and request.node is not None:
            self._learn_node(request.node)
        resource_type = ResourceType.from_type_url(request.type_url)
        if resource_type is None:
            _log.warning("node %r asked for unsupported type %r", self.node_id, request.type_url)
            return RequestOutcome.UNKNOWN_TYPE, []
        state = self._types[resource_type]
        nonce = request.response_nonce
        if nonce and nonce != state.nonce:
            _log.debug("node %r: stale %s nonce %r ignored", self.node_id, resource_type.short_name, nonce)
            return RequestOutcome.STALE, []
        outcome = self._answer(resource_type, state, request) if nonce else RequestOutcome.REQUEST
        state.open_request = True
        state.requested = True
        state.names = frozenset(request.resource_names)
        return outcome, self._pump()

    def handle_cache_change(self) -> list[DiscoveryResponse]:
        """The responses due after the cache changed (only types Envoy has an open request for)."""
        return self._pump()

    def status(self, *, connected: bool = True) -> NodeStatus:
        now = self.clock()
        return NodeStatus(
            node_id=self.node_id,
            cluster=self.node.cluster,
            connected=connected,
            connected_at=self.connected_at or now,
            updated_at=now,
            xds_instance=self.instance_id,
            admin_url=self.node.admin_url,
            resources={t.short_name: self._types[t].status() for t in PUSH_ORDER if self._types[t].requested},
        )

    def _learn_node(self, node: Node) -> None:
        self.node.node_id = node.id
        self.node.cluster = node.cluster
        self.node.listener_port = _listener_port(node, self.cache.default_listener_port)
        self.node.admin_url = _admin_url(node)
        self.node.known = True

    def _answer(
        self, resource_type: ResourceType, state: _TypeState, request: DiscoveryRequest
    ) -> RequestOutcome:
        """Envoy's reply to our latest response of this type: ACK or NACK."""
        state.answered_version = state.sent_version
        error = request.error_detail
        if error is not None:
            state.last_nack = Nack(version=state.sent_version, message=error.message, at=self.clock())
            if request.version_info:
                state.acked_version = request.version_info  # what Envoy still runs
            _log.warning(
                "node %r NACKed %s %s: %s",
                self.node_id,
                resource_type.short_name,
                state.sent_version,
                error.message,
            )
            return RequestOutcome.NACK
        if request.version_info == state.sent_version:
            if state.acked_version != request.version_info:
                _log.info("node %r ACKed %s %s", self.node_id, resource_type.short_name, request.version_info)
            state.acked_version = request.version_info
            return RequestOutcome.ACK
        _log.warning(
            "node %r answered %s %s with version %r and no error; treating it as a request",
            self.node_id,
            resource_type.short_name,
            state.sent_version,
            request.version_info,
        )
        return RequestOutcome.REQUEST

    def _pump(self) -> list[DiscoveryResponse]:
        view = self.cache.view(self.listener_port)
        if view is None:
            return []  # no registry snapshot yet: requests stay open until one arrives
        responses: list[DiscoveryResponse] = []
        for resource_type in PUSH_ORDER:
            state = self._types[resource_type]
            if not state.open_request:
                continue
            version = view.version(resource_type)
            names = None if resource_type.wildcard else state.names
            if state.sent and state.sent_version == version and state.sent_names == names:
                continue  # Envoy has it (or rejected exactly this): nothing new to say
            if resource_type in _GATED_ON_CLUSTERS and self._clusters_warming(view):
                continue
            responses.append(self._respond(resource_type, state, view, names))
        return responses

    def _clusters_warming(self, view: CacheView) -> bool:
        """True while Envoy has not answered the CDS version the cache holds now."""
        clusters = self._types[ResourceType.CLUSTER]
        return clusters.requested and clusters.answered_version != view.version(ResourceType.CLUSTER)

    def _respond(
        self, resource_type: ResourceType, state: _TypeState, view: CacheView, names: frozenset[str] | None
    ) -> DiscoveryResponse:
        self._nonce_counter += 1
        version = view.version(resource_type)
        state.open_request = False
        state.sent = True
        state.sent_version = version
        state.sent_names = names
        state.nonce = str(self._nonce_counter)
        return DiscoveryResponse(
            version_info=version,
            resources=view.resources(resource_type, names),
            type_url=resource_type.type_url,
            nonce=state.nonce,
            control_plane=ControlPlane(identifier=self.instance_id) if self.instance_id else None,
        )

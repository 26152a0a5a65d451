"""A scripted Envoy for driving `AdsStream` without a network: builds requests like Envoy 1.40 does."""

from __future__ import annotations

from collections.abc import Iterable

from envoy_data_plane.envoy.config.core.v3 import Node
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse
from envoy_data_plane.google.protobuf import Struct
from envoy_data_plane.google.rpc import Status

from xds.resource_type import ResourceType
from xds.stream import AdsStream, RequestOutcome

__all__ = ["FakeEnvoy", "names_of"]


def names_of(response: DiscoveryResponse) -> list[str]:
    """Resource names in a response (cluster_name for load assignments)."""
    names = []
    for packed in response.resources:
        message = packed.unpack()
        names.append(getattr(message, "cluster_name", "") or getattr(message, "name", ""))
    return names


class FakeEnvoy:
    """Sends requests into an AdsStream; remembers the last accepted version per type like Envoy."""

    def __init__(
        self, stream: AdsStream, node_id: str = "n1", metadata: dict[str, object] | None = None
    ) -> None:
        self.stream = stream
        self.node = Node(
            id=node_id, cluster="tollway", metadata=Struct.from_dict(metadata) if metadata else None
        )
        self.accepted: dict[ResourceType, str] = {}
        self._sent_node = False

    def request(
        self,
        resource_type: ResourceType,
        names: Iterable[str] = (),
        *,
        version: str | None = None,
        nonce: str = "",
        error: str | None = None,
    ) -> tuple[RequestOutcome, list[DiscoveryResponse]]:
        request = DiscoveryRequest(
            version_info=self.accepted.get(resource_type, "") if version is None else version,
            node=None if self._sent_node else self.node,  # set_node_on_first_message_only: true
            resource_names=list(names),
            type_url=resource_type.type_url,
            response_nonce=nonce,
            error_detail=Status(code=3, message=error) if error is not None else None,
        )
        self._sent_node = True
        return self.stream.handle_request(request)

    def ack(
        self, response: DiscoveryResponse, names: Iterable[str] = ()
    ) -> tuple[RequestOutcome, list[DiscoveryResponse]]:
        resource_type = ResourceType.from_type_url(response.type_url)
        assert resource_type is not None
        self.accepted[resource_type] = response.version_info
        return self.request(resource_type, names, nonce=response.nonce)

    def nack(
        self, response: DiscoveryResponse, message: str, names: Iterable[str] = ()
    ) -> tuple[RequestOutcome, list[DiscoveryResponse]]:
        resource_type = ResourceType.from_type_url(response.type_url)
        assert resource_type is not None
        return self.request(resource_type, names, nonce=response.nonce, error=message)

"""The gRPC side of ADS: a thin loop that feeds requests and cache changes to an `AdsStream`.

`serve_ads_stream` knows nothing about gRPC (tests drive it with an async iterator and a list);
`ads_server` wraps it in a grpc.aio generic handler for
`envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources` (SotW only).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import Enum
from typing import Any

import grpc  # type: ignore[import-untyped]  # no stubs installed (types-grpcio)
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse

from xds.cache import SnapshotCache
from xds.status import NodeStatusPublisher
from xds.stream import AdsStream, RequestOutcome

__all__ = ["ADS_METHOD", "ADS_SERVICE", "ads_server", "serve_ads_stream"]

_log = logging.getLogger(__name__)

ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"
ADS_METHOD = "StreamAggregatedResources"

_SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    # Never share a port silently with a second xds (its readiness probe would lie).
    ("grpc.so_reuseport", 0),
    # Envoy pings its ADS connection every few seconds (bootstrap connection_keepalive). grpc-core's
    # defaults would count those as abuse and GOAWAY the connection, so accept frequent pings.
    ("grpc.http2.min_ping_interval_without_data_ms", 1000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    # Detect dead Envoys ourselves too, so their streams (and status) do not linger.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]

SendResponse = Callable[[DiscoveryResponse], Awaitable[None]]


class _Signal(Enum):
    CACHE_CHANGED = "cache_changed"
    END_OF_REQUESTS = "end_of_requests"


async def serve_ads_stream(
    requests: AsyncIterator[DiscoveryRequest],
    send: SendResponse,
    *,
    cache: SnapshotCache,
    publisher: NodeStatusPublisher,
    instance_id: str = "",
    peer: str = "",
) -> None:
    """Serve one ADS stream until Envoy closes it."""
    stream = AdsStream(cache, instance_id=instance_id)
    inbox: asyncio.Queue[DiscoveryRequest | _Signal] = asyncio.Queue()

    async def read_requests() -> None:
        try:
            async for request in requests:
                inbox.put_nowait(request)
        finally:
            inbox.put_nowait(_Signal.END_OF_REQUESTS)

    async def watch_cache() -> None:
        generation = cache.generation
        while True:
            generation = await cache.wait_for_change(generation)
            inbox.put_nowait(_Signal.CACHE_CHANGED)

    reader = asyncio.create_task(read_requests())
    watcher = asyncio.create_task(watch_cache())
    node_id = ""
    try:
        while (item := await inbox.get()) is not _Signal.END_OF_REQUESTS:
            status_changed = False
            if item is _Signal.CACHE_CHANGED:
                responses = stream.handle_cache_change()
            else:
                outcome, responses = stream.handle_request(item)
                status_changed = outcome in (RequestOutcome.ACK, RequestOutcome.NACK)
                if not node_id and stream.node_id:
                    status_changed = True
                    node_id = stream.node_id
                    publisher.stream_opened(node_id)
                    _log.info(
                        "node %r (cluster %r, listener port %d) connected from %s",
                        node_id,
                        stream.node.cluster,
                        stream.listener_port,
                        peer or "?",
                    )
            for response in responses:
                await send(response)
            if responses or status_changed:
                publisher.publish(stream.status())
        if reader.done() and not reader.cancelled() and (error := reader.exception()) is not None:
            raise error
    finally:
        watcher.cancel()
        reader.cancel()
        await asyncio.gather(reader, watcher, return_exceptions=True)
        if node_id:
            if publisher.stream_closed(node_id):
                publisher.publish(stream.status(connected=False))
            _log.info("node %r disconnected (%s)", node_id, peer or "?")


def _ads_handler(
    cache: SnapshotCache, publisher: NodeStatusPublisher, instance_id: str
) -> grpc.GenericRpcHandler:
    async def stream_aggregated_resources(
        requests: AsyncIterator[DiscoveryRequest], context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        peer = context.peer()
        try:
            await serve_ads_stream(
                requests, context.write, cache=cache, publisher=publisher, instance_id=instance_id, peer=peer
            )
        except Exception:  # noqa: BLE001 -- stream boundary: one broken stream must not take the server down
            _log.exception("ADS stream from %s failed", peer)
            context.set_code(grpc.StatusCode.INTERNAL)
            context.set_details("xds stream failed")  # Envoy reconnects; details stay in our log

    method = grpc.stream_stream_rpc_method_handler(
        stream_aggregated_resources,
        request_deserializer=DiscoveryRequest.parse,
        response_serializer=bytes,
    )
    return grpc.method_handlers_generic_handler(ADS_SERVICE, {ADS_METHOD: method})


def ads_server(
    cache: SnapshotCache, publisher: NodeStatusPublisher, *, instance_id: str = ""
) -> grpc.aio.Server:
    """A grpc.aio server with the ADS service; the caller binds ports, starts and stops it."""
    server = grpc.aio.server(options=_SERVER_OPTIONS)
    server.add_generic_rpc_handlers((_ads_handler(cache, publisher, instance_id),))
    return server

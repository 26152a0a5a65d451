"""The ADS session loop (fake request stream, no network) and the grpc.aio wiring (loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from envoy_data_plane.envoy.config.core.v3 import Node
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse
from redis.exceptions import ConnectionError as RedisConnectionError

from control_plane.model import Backend, NodeStatus, Snapshot
from tests.unit.xds.xds_samples import model, snapshot
from xds.cache import SnapshotCache
from xds.resource_type import ResourceType
from xds.server import ADS_METHOD, ADS_SERVICE, ads_server, serve_ads_stream
from xds.status import NodeStatusPublisher
from xds.translate import TranslateOptions

CDS, EDS = ResourceType.CLUSTER, ResourceType.ENDPOINT


class MemoryStatusStore:
    def __init__(self) -> None:
        self.puts: list[NodeStatus] = []
        self.down = False

    async def put(self, status: NodeStatus) -> None:
        if self.down:
            raise RedisConnectionError("redis is down")
        self.puts.append(status)


def registry(version: int, weight: int = 1) -> Snapshot:
    return snapshot(version, model("m", Backend(name="a", base_url="http://10.0.0.1:8000/v1", weight=weight)))


def request(resource_type: ResourceType, *, node: str | None = None, **fields: object) -> DiscoveryRequest:
    return DiscoveryRequest(
        type_url=resource_type.type_url,
        node=Node(id=node, cluster="tollway") if node else None,
        **fields,  # type: ignore[arg-type]
    )


class Session:
    """One serve_ads_stream task fed from a queue, with its responses collected in another."""

    def __init__(self, cache: SnapshotCache, publisher: NodeStatusPublisher) -> None:
        self.requests: asyncio.Queue[DiscoveryRequest | BaseException | None] = asyncio.Queue()
        self.responses: asyncio.Queue[DiscoveryResponse] = asyncio.Queue()
        self.task = asyncio.create_task(
            serve_ads_stream(
                self._iterate(), self.responses.put, cache=cache, publisher=publisher, instance_id="x1"
            )
        )

    async def _iterate(self) -> AsyncIterator[DiscoveryRequest]:
        while (item := await self.requests.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def send(self, item: DiscoveryRequest) -> None:
        await self.requests.put(item)

    async def receive(self) -> DiscoveryResponse:
        return await asyncio.wait_for(self.responses.get(), 2.0)

    async def close(self) -> None:
        await self.requests.put(None)
        await asyncio.wait_for(self.task, 2.0)


async def acked(publisher: NodeStatusPublisher, store: MemoryStatusStore, type_: str, version: str) -> None:
    """Waits until the stream has processed Envoy's ACK of `version` (seen in the published status)."""
    async with asyncio.timeout(2.0):
        while True:
            await publisher.flush()
            resources = store.puts[-1].resources if store.puts else {}
            if type_ in resources and resources[type_].acked_version == version:
                return
            await asyncio.sleep(0)


@pytest.fixture
def cache() -> SnapshotCache:
    cache = SnapshotCache(TranslateOptions())
    cache.set_snapshot(registry(1))
    return cache


@pytest.fixture
def store() -> MemoryStatusStore:
    return MemoryStatusStore()


@pytest.fixture
def publisher(store: MemoryStatusStore) -> NodeStatusPublisher:
    return NodeStatusPublisher(store, retry_s=0.01)


async def test_session_answers_publishes_status_and_reports_disconnect(
    cache: SnapshotCache, publisher: NodeStatusPublisher, store: MemoryStatusStore
) -> None:
    session = Session(cache, publisher)
    await session.send(request(CDS, node="n1"))
    cds = await session.receive()
    assert (cds.type_url, cds.version_info) == (CDS.type_url, "v1")
    assert cds.control_plane is not None
    assert cds.control_plane.identifier == "x1"
    await session.send(request(CDS, version_info="v1", response_nonce=cds.nonce))
    await session.send(request(EDS, resource_names=["model.m"]))
    eds = await session.receive()
    assert eds.version_info == "v1"
    await publisher.flush()
    latest = store.puts[-1]
    assert latest.node_id == "n1"
    assert latest.connected
    assert latest.resources["cds"].acked_version == "v1"
    assert latest.resources["eds"].sent_version == "v1"
    await session.close()
    await publisher.flush()
    assert store.puts[-1].connected is False
    assert store.puts[-1].node_id == "n1"


async def test_cache_change_is_pushed_on_the_open_stream(
    cache: SnapshotCache, publisher: NodeStatusPublisher, store: MemoryStatusStore
) -> None:
    session = Session(cache, publisher)
    await session.send(request(CDS, node="n1"))
    cds = await session.receive()
    await session.send(request(EDS, resource_names=["model.m"]))
    eds = await session.receive()
    await session.send(request(CDS, version_info="v1", response_nonce=cds.nonce))
    await session.send(request(EDS, version_info="v1", response_nonce=eds.nonce, resource_names=["model.m"]))
    await acked(publisher, store, "eds", "v1")
    cache.set_snapshot(registry(2, weight=4))
    pushed = await session.receive()
    assert (pushed.type_url, pushed.version_info) == (EDS.type_url, "v2")
    assert session.responses.empty()
    await session.close()


async def test_redis_down_never_breaks_the_stream(
    cache: SnapshotCache, publisher: NodeStatusPublisher, store: MemoryStatusStore
) -> None:
    store.down = True
    publishing = asyncio.create_task(publisher.run())
    session = Session(cache, publisher)
    await session.send(request(CDS, node="n1"))
    cds = await session.receive()
    await session.send(request(CDS, version_info="v1", response_nonce=cds.nonce))
    await session.send(request(EDS, resource_names=["model.m"]))
    assert (await session.receive()).version_info == "v1"
    assert publisher.pending == 1
    store.down = False
    for _ in range(100):
        if store.puts:
            break
        await asyncio.sleep(0.01)
    assert store.puts[-1].resources["cds"].acked_version == "v1"
    await session.close()
    publishing.cancel()


async def test_only_the_last_stream_of_a_node_reports_it_disconnected(
    cache: SnapshotCache, publisher: NodeStatusPublisher, store: MemoryStatusStore
) -> None:
    old, new = Session(cache, publisher), Session(cache, publisher)
    for session in (old, new):
        await session.send(request(CDS, node="n1"))
        await session.receive()
    await old.close()
    await publisher.flush()
    assert store.puts[-1].connected
    await new.close()
    await publisher.flush()
    assert not store.puts[-1].connected


async def test_a_broken_request_stream_ends_the_session_with_its_error(
    cache: SnapshotCache, publisher: NodeStatusPublisher, store: MemoryStatusStore
) -> None:
    session = Session(cache, publisher)
    await session.send(request(CDS, node="n1"))
    await session.receive()
    await session.requests.put(OSError("connection reset"))
    with pytest.raises(OSError, match="connection reset"):
        await asyncio.wait_for(session.task, 2.0)
    await publisher.flush()
    assert store.puts[-1].connected is False


async def test_grpc_server_speaks_ads(cache: SnapshotCache, publisher: NodeStatusPublisher) -> None:
    server = ads_server(cache, publisher, instance_id="x1")
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.stream_stream(
                f"/{ADS_SERVICE}/{ADS_METHOD}",
                request_serializer=bytes,
                response_deserializer=DiscoveryResponse.parse,
            )()
            await call.write(request(CDS, node="n1"))
            response = await asyncio.wait_for(call.read(), 5.0)
            assert response.type_url == CDS.type_url
            assert response.version_info == "v1"
            assert [a.unpack().name for a in response.resources] == ["model.m"]  # type: ignore[union-attr]
            await call.done_writing()
            call.cancel()
    finally:
        await server.stop(0)

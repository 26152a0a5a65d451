"""The process wiring: first-snapshot wait, feed following, serving and stopping."""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import orjson
import redis.asyncio as aioredis

from control_plane.keys import REGISTRY_CHANGES, REGISTRY_SNAPSHOT
from control_plane.model import RegistrySpec, Snapshot
from ext_proc.app import follow_registry, run, serve
from ext_proc.model_table import ModelTableHolder
from ext_proc.server import SERVICE_NAME
from ext_proc.settings import ExtProcSettings

# The server may not listen yet when the test connects: retry quickly instead of grpc's 1 s backoff.
FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 20),
    ("grpc.min_reconnect_backoff_ms", 20),
    ("grpc.max_reconnect_backoff_ms", 50),
]


class QueuedSnapshots:
    """A snapshot source fed by the test."""

    def __init__(self, *initial: Snapshot) -> None:
        self.queue: asyncio.Queue[Snapshot] = asyncio.Queue()
        for snapshot in initial:
            self.queue.put_nowait(snapshot)

    async def watch(self) -> AsyncIterator[Snapshot]:
        while True:
            yield await self.queue.get()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(port: int, **overrides: Any) -> ExtProcSettings:
    values: dict[str, Any] = {"port": port, "snapshot_wait_s": 5.0, "shutdown_grace_s": 0.5, **overrides}
    return ExtProcSettings(**values)


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def list_models(port: int, messages, driver) -> tuple[int, Any]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=FAST_RECONNECT) as channel:
        await asyncio.wait_for(channel.channel_ready(), 5)
        call = channel.stream_stream(
            f"/{SERVICE_NAME}/Process",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=messages.ProcessingResponse.FromString,
        )()
        await call.write(driver.request_headers("GET", "/v1/models", end_of_stream=True))
        status, _, body, _ = driver.immediate(await call.read())
        await call.done_writing()
        return status, body


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await _value(check()):
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_serve_routes_with_the_first_snapshot_and_follows_updates(
    messages, driver, snapshot, snapshots
) -> None:
    port = free_port()
    source = QueuedSnapshots(snapshot)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings_for(port), source, stop=stop))
    status, body = await list_models(port, messages, driver)
    assert status == 200
    assert [entry["id"] for entry in body["data"]][:2] == ["meta-llama/Llama-3-8B", "llama3"]

    source.queue.put_nowait(snapshots(8, ("gpt-5",)))

    async def updated() -> bool:
        return (await list_models(port, messages, driver))[1]["data"] == [
            {"id": "gpt-5", "object": "model", "created": 0, "owned_by": "tollway"}
        ]

    await eventually(updated)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert not port_is_open(port)


async def test_serve_waits_for_the_first_snapshot_then_serves_503(messages, driver, caplog) -> None:
    port = free_port()
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="ext_proc.app"):
        task = asyncio.create_task(
            serve(settings_for(port, snapshot_wait_s=2.0), QueuedSnapshots(), stop=stop)
        )
        await asyncio.sleep(0.2)
        assert not port_is_open(port), "the port must stay closed while waiting for a snapshot"
        status, body = await list_models(port, messages, driver)
    assert status == 503
    assert body["error"]["code"] == "registry_unavailable"
    assert "no registry snapshot after 2.0 s" in caplog.text
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_stop_while_waiting_returns_without_serving() -> None:
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings_for(port, snapshot_wait_s=30), QueuedSnapshots(), stop=stop))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert not port_is_open(port)


async def test_follow_registry_survives_a_failing_source_and_bad_snapshots(snapshots, caplog) -> None:
    class FlakySource:
        def __init__(self) -> None:
            self.attempts = 0

        async def watch(self) -> AsyncIterator[Snapshot]:
            self.attempts += 1
            if self.attempts == 1:
                raise ConnectionError("feed down")
            yield snapshots(1, ("a",))
            bad = RegistrySpec.model_construct(models=(snapshots.model("b", "x"), snapshots.model("c", "x")))
            yield Snapshot.model_construct(version=2, spec=bad)
            await asyncio.Event().wait()

    tables = ModelTableHolder()
    loaded = asyncio.Event()
    with caplog.at_level(logging.ERROR):
        task = asyncio.create_task(follow_registry(FlakySource(), tables, loaded, restart_s=0.0))
        await asyncio.wait_for(loaded.wait(), 2)
        await eventually(lambda: "keeping table v1" in caplog.text)
    task.cancel()
    assert tables.current is not None
    assert tables.current.version == 1
    assert "registry feed failed" in caplog.text


async def _value(result: Awaitable[bool] | bool) -> bool:
    return await result if inspect.isawaitable(result) else result


async def test_run_follows_the_registry_in_redis(
    valkey_url: str, messages, driver, snapshot, snapshots
) -> None:
    writer = aioredis.Redis.from_url(valkey_url)
    await writer.set(REGISTRY_SNAPSHOT, snapshot.model_dump_json())
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings_for(port, redis_url=valkey_url), stop=stop))
    try:
        status, body = await list_models(port, messages, driver)
        assert status == 200
        assert len(body["data"]) == 5

        await writer.set(REGISTRY_SNAPSHOT, snapshots(9, ("qwen/Qwen2-7B", "qwen")).model_dump_json())
        await writer.publish(REGISTRY_CHANGES, "9")

        async def updated() -> bool:
            data = (await list_models(port, messages, driver))[1]["data"]
            return [entry["id"] for entry in data] == ["qwen/Qwen2-7B", "qwen"]

        await eventually(updated)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await writer.aclose()


async def test_run_without_redis_serves_503_after_the_wait(messages, driver) -> None:
    port = free_port()
    stop = asyncio.Event()
    settings = settings_for(port, redis_url=f"redis://127.0.0.1:{free_port()}/0", snapshot_wait_s=0.3)
    task = asyncio.create_task(run(settings, stop=stop))
    status, body = await list_models(port, messages, driver)
    assert status == 503
    assert orjson.loads(orjson.dumps(body))["error"]["code"] == "registry_unavailable"
    stop.set()
    await asyncio.wait_for(task, 5)

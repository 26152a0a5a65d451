"""The process wiring: first-snapshot wait, feed following, serving and stopping, with governance on a
real embedded Valkey (one per module; every test starts from an empty database and one API key)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import orjson
import pytest
import redis.asyncio as aioredis

from control_plane.keys import REGISTRY_CHANGES, REGISTRY_SNAPSHOT, tenant_ledger
from control_plane.keystore import RedisKeyRecords
from control_plane.model import ApiKey, Plan, RegistrySpec, Snapshot, Tenant
from ext_proc.app import follow_registry, run, serve
from ext_proc.governance.policies import PolicyTableHolder
from ext_proc.model_table import ModelTableHolder
from ext_proc.server import SERVICE_NAME
from ext_proc.settings import ExtProcSettings

# The server may not listen yet when the test connects: retry quickly instead of grpc's 1 s backoff.
FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 20),
    ("grpc.min_reconnect_backoff_ms", 20),
    ("grpc.max_reconnect_backoff_ms", 50),
]


@pytest.fixture
async def redis_client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(valkey_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def secret(redis_client: aioredis.Redis) -> str:
    """The secret of an active API key of tenant `acme`, stored in Valkey."""
    key, secret = ApiKey.issue(tenant="acme", now=datetime.now(UTC), name="test")
    await RedisKeyRecords(redis_client).write([key])
    return secret


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


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


def settings_for(port: int, spool_dir: Path, **overrides: Any) -> ExtProcSettings:
    values: dict[str, Any] = {
        "port": port,
        "snapshot_wait_s": 5.0,
        "shutdown_grace_s": 0.5,
        "spool_dir": spool_dir,
        **overrides,
    }
    return ExtProcSettings(**values)


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def process_call(channel: grpc.aio.Channel, messages) -> Any:
    return channel.stream_stream(
        f"/{SERVICE_NAME}/Process",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=messages.ProcessingResponse.FromString,
    )()


async def list_models(port: int, messages, driver, key: str) -> tuple[int, Any]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=FAST_RECONNECT) as channel:
        await asyncio.wait_for(channel.channel_ready(), 5)
        call = process_call(channel, messages)
        await call.write(driver.request_headers("GET", "/v1/models", end_of_stream=True, key=key))
        status, _, body, _ = driver.immediate(await call.read())
        await call.done_writing()
        return status, body


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await _value(check()):
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_serve_routes_with_the_first_snapshot_and_follows_updates(
    messages, driver, snapshot, snapshots, redis_client, secret, spool_dir
) -> None:
    port = free_port()
    source = QueuedSnapshots(snapshot)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings_for(port, spool_dir), source, redis_client, stop=stop))
    status, body = await list_models(port, messages, driver, secret)
    assert status == 200
    assert [entry["id"] for entry in body["data"]][:2] == ["meta-llama/Llama-3-8B", "llama3"]

    source.queue.put_nowait(snapshots(8, ("gpt-5",)))

    async def updated() -> bool:
        return (await list_models(port, messages, driver, secret))[1]["data"] == [
            {"id": "gpt-5", "object": "model", "created": 0, "owned_by": "tollway"}
        ]

    await eventually(updated)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert not port_is_open(port)


async def test_serve_waits_for_the_first_snapshot_then_serves_503(
    messages, driver, caplog, redis_client, secret, spool_dir
) -> None:
    port = free_port()
    stop = asyncio.Event()
    settings = settings_for(port, spool_dir, snapshot_wait_s=2.0)
    with caplog.at_level(logging.WARNING, logger="ext_proc.app"):
        task = asyncio.create_task(serve(settings, QueuedSnapshots(), redis_client, stop=stop))
        await asyncio.sleep(0.2)
        assert not port_is_open(port), "the port must stay closed while waiting for a snapshot"
        status, body = await list_models(port, messages, driver, secret)
    assert status == 503
    assert body["error"]["code"] == "registry_unavailable"
    assert "no registry snapshot after 2.0 s" in caplog.text
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_stop_while_waiting_returns_without_serving(redis_client, spool_dir) -> None:
    port = free_port()
    stop = asyncio.Event()
    settings = settings_for(port, spool_dir, snapshot_wait_s=30)
    task = asyncio.create_task(serve(settings, QueuedSnapshots(), redis_client, stop=stop))
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
    policies = PolicyTableHolder()
    loaded = asyncio.Event()
    with caplog.at_level(logging.ERROR):
        task = asyncio.create_task(follow_registry(FlakySource(), tables, policies, loaded, restart_s=0.0))
        await asyncio.wait_for(loaded.wait(), 2)
        await eventually(lambda: "keeping table v1" in caplog.text)
    task.cancel()
    assert tables.current is not None
    assert tables.current.version == 1
    assert policies.current is not None
    assert policies.current.version == 2  # v2's policies compiled; only its model table did not
    assert "registry feed failed" in caplog.text


async def test_follow_registry_is_loaded_only_once_policies_compile(snapshots, caplog) -> None:
    queue = QueuedSnapshots()
    orphan = RegistrySpec.model_construct(
        models=(snapshots.model("a"),), plans=(), tenants=(Tenant(id="acme", plan="gone"),), prices=()
    )
    queue.queue.put_nowait(Snapshot.model_construct(version=1, spec=orphan))
    tables, policies, loaded = ModelTableHolder(), PolicyTableHolder(), asyncio.Event()
    with caplog.at_level(logging.ERROR):
        task = asyncio.create_task(follow_registry(queue, tables, policies, loaded, restart_s=0.0))
        await eventually(lambda: "policies do not compile" in caplog.text)
    assert not loaded.is_set()
    assert tables.current is not None
    assert tables.current.version == 1
    assert policies.current is None
    good = RegistrySpec(
        models=(snapshots.model("a"),), plans=(Plan(name="gone"),), tenants=(Tenant(id="acme", plan="gone"),)
    )
    queue.queue.put_nowait(Snapshot(version=2, spec=good))
    await asyncio.wait_for(loaded.wait(), 2)
    assert policies.current is not None
    assert policies.current.version == 2
    task.cancel()


async def _value(result: Awaitable[bool] | bool) -> bool:
    return await result if inspect.isawaitable(result) else result


async def test_run_follows_the_registry_in_redis(
    valkey_url: str, messages, driver, snapshot, snapshots, redis_client, secret, spool_dir
) -> None:
    writer = redis_client
    await writer.set(REGISTRY_SNAPSHOT, snapshot.model_dump_json())
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings_for(port, spool_dir, redis_url=valkey_url), stop=stop))
    try:
        status, body = await list_models(port, messages, driver, secret)
        assert status == 200
        assert len(body["data"]) == 5

        await writer.set(REGISTRY_SNAPSHOT, snapshots(9, ("qwen/Qwen2-7B", "qwen")).model_dump_json())
        await writer.publish(REGISTRY_CHANGES, "9")

        async def updated() -> bool:
            data = (await list_models(port, messages, driver, secret))[1]["data"]
            return [entry["id"] for entry in data] == ["qwen/Qwen2-7B", "qwen"]

        await eventually(updated)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_run_without_redis_serves_503_after_the_wait(messages, driver, spool_dir) -> None:
    port = free_port()
    stop = asyncio.Event()
    settings = settings_for(
        port, spool_dir, redis_url=f"redis://127.0.0.1:{free_port()}/0", snapshot_wait_s=0.3
    )
    task = asyncio.create_task(run(settings, stop=stop))
    status, body = await list_models(port, messages, driver, "tw-unknown")
    assert status == 503
    assert body["error"]["code"] == "auth_unavailable"  # keys are checked before the registry
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_served_chat_completion_is_admitted_and_billed_in_redis(
    messages, driver, snapshot, redis_client, secret, spool_dir
) -> None:
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(settings_for(port, spool_dir), QueuedSnapshots(snapshot), redis_client, stop=stop)
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=FAST_RECONNECT) as channel:
            await asyncio.wait_for(channel.channel_ready(), 5)
            call = process_call(channel, messages)
            await call.write(
                driver.request_headers("POST", "/v1/chat/completions", key=secret, request_id="rid-e2e")
            )
            await call.read()
            await call.write(
                driver.request_body({"model": "small", "messages": [{"role": "user", "content": "hi"}]})
            )
            admitted = await call.read()
            headers = driver.set_headers(admitted.request_body.response.header_mutation, with_action=False)
            assert (headers["x-tollway-model"], headers["x-tollway-tenant"]) == ("gpt-4o-mini", "acme")
            await call.write(driver.response_headers(200, "application/json"))
            await call.read()
            usage = {"prompt_tokens": 9, "completion_tokens": 4}
            await call.write(driver.response_body({"choices": [], "usage": usage}))
            await call.read()
            await call.done_writing()

        async def ledger() -> list[dict[str, Any]]:
            entries = await redis_client.xrange(tenant_ledger("acme"))
            return [orjson.loads(fields[b"r"]) for _, fields in entries]

        async def billed() -> bool:
            return bool(await ledger())

        await eventually(billed)
        [record] = await ledger()
        assert {name: record[name] for name in ("request_id", "outcome", "model", "prompt_tokens")} == {
            "request_id": "rid-e2e",
            "outcome": "ok",
            "model": "gpt-4o-mini",
            "prompt_tokens": 9,
        }
        assert (record["completion_tokens"], record["estimated"]) == (4, False)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)

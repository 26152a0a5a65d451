"""Wiring for one ext_proc process: registry feed → model table → processors → gRPC server.

`run(settings)` is what `python -m ext_proc` calls and what tests start in-process. It waits (up to
`snapshot_wait_s`) for the first registry snapshot before it opens its port, so a launcher that waits
for the port sees the process ready only once it can route. Until a snapshot arrives, model requests
get 503 `registry_unavailable`; afterwards the last good table keeps serving through Redis outages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from control_plane.feed import SnapshotFeed
from control_plane.model import Snapshot
from control_plane.redis_client import RedisClient, connect
from ext_proc.cache.runtime import CacheRuntime
from ext_proc.governance.policies import PolicyTableHolder
from ext_proc.governance.runtime import GovernanceRuntime
from ext_proc.model_table import ModelTableHolder
from ext_proc.processors import openai_processors
from ext_proc.proto import ProcessingCodec, load_messages
from ext_proc.server import ExternalProcessorService, create_grpc_server
from ext_proc.services import GatewayServices
from ext_proc.settings import ExtProcSettings
from ext_proc.token_count import TokenCounter

__all__ = ["SnapshotSource", "follow_registry", "run", "serve"]

_logger = logging.getLogger(__name__)

_FEED_RESTART_S = 1.0


class SnapshotSource(Protocol):
    """Where snapshots come from: `control_plane.feed.SnapshotFeed`, or a fake in tests."""

    def watch(self) -> AsyncIterator[Snapshot]: ...


async def run(settings: ExtProcSettings, *, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (forever without one), following the registry in Redis."""
    client = connect(settings.redis_url)
    try:
        await serve(settings, SnapshotFeed(client), client, stop=stop)
    finally:
        await client.aclose()


async def serve(
    settings: ExtProcSettings,
    snapshots: SnapshotSource,
    client: RedisClient,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """`run` with the snapshot source and the Redis client passed in."""
    stop = stop if stop is not None else asyncio.Event()
    codec = ProcessingCodec(load_messages())  # fails fast when the descriptor set was never built
    tokens = TokenCounter()
    tables = ModelTableHolder()
    policies = PolicyTableHolder()
    first_table = asyncio.Event()
    async with (
        GovernanceRuntime(settings, client, policies) as governance,
        CacheRuntime(settings, client) as cached,
    ):
        follower = asyncio.create_task(
            follow_registry(snapshots, tables, policies, first_table), name="ext_proc-registry-feed"
        )
        services = GatewayServices(
            models=tables,
            policies=policies,
            authenticator=governance.authenticator,
            gate=governance.gate,
            billing=governance.billing,
            tokens=tokens,
            cache=cached.cache,
            max_json_response_bytes=settings.max_request_bytes,
        )
        await _serve_grpc(settings, services, codec, first_table, follower, stop)


async def _serve_grpc(
    settings: ExtProcSettings,
    services: GatewayServices,
    codec: ProcessingCodec,
    first_table: asyncio.Event,
    follower: asyncio.Task[None],
    stop: asyncio.Event,
) -> None:
    try:
        if not await _first_table_or_stop(first_table, stop, settings.snapshot_wait_s):
            if stop.is_set():
                return
            _logger.warning(
                "no registry snapshot after %.1f s; serving anyway (model requests get 503 until one comes)",
                settings.snapshot_wait_s,
            )
        server = create_grpc_server(
            ExternalProcessorService(openai_processors(services)),
            codec,
            max_message_bytes=settings.max_message_bytes,
        )
        port = server.add_insecure_port(f"{settings.host}:{settings.port}")
        await server.start()
        _logger.info("ext_proc listening on %s:%d", settings.host, port)
        try:
            await stop.wait()
        finally:
            await server.stop(settings.shutdown_grace_s)
            _logger.info("ext_proc on %s:%d stopped", settings.host, port)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


async def _first_table_or_stop(first_table: asyncio.Event, stop: asyncio.Event, timeout_s: float) -> bool:
    """True once a table is in service; False on timeout or stop."""
    waiters = {asyncio.create_task(first_table.wait()), asyncio.create_task(stop.wait())}
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return first_table.is_set()


async def follow_registry(
    snapshots: SnapshotSource,
    tables: ModelTableHolder,
    policies: PolicyTableHolder,
    loaded: asyncio.Event,
    *,
    restart_s: float = _FEED_RESTART_S,
) -> None:
    """Load every snapshot the source yields, forever; `loaded` is set once a table is in service.

    If the source fails or ends, it is watched again after `restart_s`; the table in service stays.
    """
    while True:
        try:
            async for snapshot in snapshots.watch():
                models_loaded = tables.load(snapshot)
                if policies.load(snapshot) and models_loaded:
                    loaded.set()
            _logger.warning("registry feed ended; restarting it in %.1f s", restart_s)
        except Exception:
            _logger.exception("registry feed failed; restarting it in %.1f s", restart_s)
        await asyncio.sleep(restart_s)

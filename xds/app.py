"""Wiring of the xds process: Redis feed → snapshot cache → ADS gRPC server, plus status publishing.

`run(settings)` is what `__main__` and the tests start. While Redis is unreachable the feed yields
nothing and the server keeps serving the last snapshot it accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from control_plane.feed import SnapshotFeed
from control_plane.model import BackendRegistration, Snapshot
from control_plane.redis_client import RedisClient, connect
from control_plane.registrations import RedisRegistrationStore
from control_plane.xds_status import RedisXdsStatusStore
from xds.cache import SnapshotCache
from xds.credentials import translator
from xds.registrations import with_registrations
from xds.server import ads_server
from xds.settings import XdsSettings
from xds.status import NodeStatusPublisher

__all__ = ["CacheInputs", "follow_feed", "follow_registrations", "run"]

_log = logging.getLogger(__name__)

_STOP_STEP_TIMEOUT_S = 1.0


async def _cancel_tasks(*tasks: asyncio.Task[Any]) -> None:
    """Cancel until they end, re-cancelling: a cancellation can be lost (one that races a timeout inside
    redis-py's reads, on Python 3.11), and one stuck task must not keep the process from exiting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _STOP_STEP_TIMEOUT_S
    pending = {t for t in tasks if not t.done()}
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    if pending:
        _log.warning("background tasks did not stop: %s", sorted(t.get_name() for t in pending))


class _SnapshotSink(Protocol):
    def set_snapshot(self, snapshot: Snapshot) -> bool: ...


class CacheInputs:
    """The cache's two inputs, the last registry snapshot and the last live registrations: a change of
    either re-runs the cache on their merge (an endpoints-only change gets a new EDS version)."""

    def __init__(self, cache: SnapshotCache) -> None:
        self._cache = cache
        self._snapshot: Snapshot | None = None
        self._registrations: tuple[BackendRegistration, ...] = ()
        self._reported: set[tuple[tuple[str, str], str]] = set()

    def set_snapshot(self, snapshot: Snapshot) -> bool:
        self._snapshot = snapshot
        return self._apply()

    def set_registrations(self, registrations: Iterable[BackendRegistration]) -> bool:
        self._registrations = tuple(registrations)
        return self._apply()

    def _apply(self) -> bool:
        if self._snapshot is None:
            return False  # nothing to add registrations to before the first registry snapshot
        merged = with_registrations(self._snapshot, self._registrations)
        ignored = {(r.key, reason) for r, reason in merged.ignored}
        for (model, backend), reason in sorted(ignored - self._reported):  # each reason logged once
            _log.warning("registration %s/%s ignored: %s", model, backend, reason)
        self._reported = ignored
        return self._cache.set_snapshot(merged.snapshot)


async def follow_feed(feed: SnapshotFeed, cache: _SnapshotSink) -> None:
    """Hand every newer registry snapshot to the cache (which keeps the last good one on refusal)."""
    async for snapshot in feed.watch():
        cache.set_snapshot(snapshot)


async def follow_registrations(store: RedisRegistrationStore, inputs: CacheInputs) -> None:
    """Hand every change of the live registrations (new, gone, expired) to the cache."""
    async for registrations in store.watch():
        inputs.set_registrations(registrations)


async def run(
    settings: XdsSettings,
    *,
    stop: asyncio.Event | None = None,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Serve ADS on settings.host:port until `stop` is set (forever without one).

    `on_listening` receives the bound port (useful with `port=0`).
    """
    stop = stop or asyncio.Event()
    client = connect(settings.redis_url)
    try:
        await _serve(settings, client, stop, on_listening)
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.aclose(), _STOP_STEP_TIMEOUT_S)


async def _serve(
    settings: XdsSettings,
    client: RedisClient,
    stop: asyncio.Event,
    on_listening: Callable[[int], None] | None,
) -> None:
    cache = SnapshotCache(settings.translate_options(), translator=translator(settings.secret_key))
    publisher = NodeStatusPublisher(RedisXdsStatusStore(client))
    server = ads_server(cache, publisher, instance_id=settings.instance_id)
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    await server.start()
    _log.info("xds %s serving ADS on %s:%d", settings.instance_id, settings.host, port)
    if on_listening is not None:
        on_listening(port)
    inputs = CacheInputs(cache)
    feed_task = asyncio.create_task(follow_feed(SnapshotFeed(client), inputs), name="xds-feed")
    registrations_task = asyncio.create_task(
        follow_registrations(RedisRegistrationStore(client), inputs), name="xds-registrations"
    )
    publisher_task = asyncio.create_task(publisher.run(), name="xds-status")
    stop_task = asyncio.create_task(stop.wait(), name="xds-stop")
    try:
        await asyncio.wait({feed_task, registrations_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        _log.info("xds stopping")
        with contextlib.suppress(TimeoutError):  # stream handlers publish their disconnects
            await asyncio.wait_for(server.stop(settings.shutdown_grace_s), settings.shutdown_grace_s + 2.0)
        await _cancel_tasks(feed_task, registrations_task, stop_task, publisher_task)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(publisher.flush(), _STOP_STEP_TIMEOUT_S)
    for task in (feed_task, registrations_task):
        if task.done() and not task.cancelled() and (error := task.exception()) is not None:
            raise error

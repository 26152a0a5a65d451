"""Read-only view of the registry for the data plane: the current snapshot and a stream of newer ones.

xds and ext_proc use this and nothing else from the registry. Changes are announced on a pub/sub
channel (latency ≈ 1 ms) and also polled at `poll_interval_s` as a safety net for missed messages or
a Redis restart. While Redis is unreachable the feed keeps retrying and yields nothing, so its users keep
serving their last snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from pydantic import ValidationError
from redis.exceptions import RedisError

from control_plane.keys import REGISTRY_CHANGES, REGISTRY_SNAPSHOT
from control_plane.model import Snapshot
from control_plane.redis_client import RedisClient, open_pubsub

__all__ = ["SnapshotFeed"]

_log = logging.getLogger(__name__)


class SnapshotFeed:
    """Yields the registry snapshot whenever its version changes (normally: grows)."""

    def __init__(self, client: RedisClient, *, poll_interval_s: float = 2.0, retry_s: float = 0.5) -> None:
        self._client = client
        self._poll_interval_s = poll_interval_s
        self._retry_s = retry_s

    async def current(self) -> Snapshot | None:
        """The stored snapshot (the empty registry at version 0 if never written); None if unreadable."""
        raw = await self._client.get(REGISTRY_SNAPSHOT)
        if raw is None:
            return Snapshot(version=0)
        try:
            return Snapshot.model_validate_json(raw)
        except ValidationError:
            _log.error("stored registry snapshot does not validate; keeping the previous one")
            return None

    async def watch(self) -> AsyncIterator[Snapshot]:
        """Every snapshot whose version differs from the last one yielded, forever; the current one first."""
        last_version = -1
        while True:
            try:
                async with await open_pubsub(self._client) as pubsub:
                    await pubsub.subscribe(REGISTRY_CHANGES)
                    while True:
                        snapshot = await self.current()
                        if snapshot is not None and snapshot.version != last_version:
                            if snapshot.version < last_version:
                                _log.warning(
                                    "registry version went back from %d to %d (store reset); following it",
                                    last_version,
                                    snapshot.version,
                                )
                            last_version = snapshot.version
                            yield snapshot
                        # Any message (or the poll interval) triggers a re-read; the version decides.
                        await pubsub.get_message(timeout=self._poll_interval_s)
                        while await pubsub.get_message(timeout=0.0) is not None:
                            pass
            except (RedisError, OSError) as exc:
                _log.warning("registry feed: redis unavailable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(self._retry_s)

"""Publishes each Envoy node's xDS status (sent/acked versions, last NACK) without ever blocking a stream.

Streams call `publish`, which only records the latest status per node; a background task writes it to
the store. A store failure (Redis down) is logged and retried later; streams never notice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Protocol

from redis.exceptions import RedisError

from control_plane.model import NodeStatus

__all__ = ["NodeStatusPublisher", "XdsStatusStore"]

_log = logging.getLogger(__name__)


class XdsStatusStore(Protocol):
    async def put(self, status: NodeStatus) -> None: ...


class NodeStatusPublisher:
    def __init__(self, store: XdsStatusStore, *, retry_s: float = 1.0) -> None:
        self._store = store
        self._retry_s = retry_s
        self._pending: dict[str, NodeStatus] = {}
        self._wakeup = asyncio.Event()
        self._open_streams: Counter[str] = Counter()

    def stream_opened(self, node_id: str) -> None:
        self._open_streams[node_id] += 1

    def stream_closed(self, node_id: str) -> bool:
        """True when this was the node's last open stream on this instance (so it is disconnected)."""
        self._open_streams[node_id] -= 1
        if self._open_streams[node_id] > 0:
            return False
        del self._open_streams[node_id]
        return True

    def publish(self, status: NodeStatus) -> None:
        """Queue `status`; a newer status of the same node replaces one not yet written."""
        if not status.node_id:
            return
        self._pending[status.node_id] = status
        self._wakeup.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """Write queued statuses until cancelled."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not await self.flush():
                await asyncio.sleep(self._retry_s)
                self._wakeup.set()

    async def flush(self) -> bool:
        """Write every queued status now; False if the store failed (the failed ones stay queued)."""
        while self._pending:
            node_id, status = next(iter(self._pending.items()))
            try:
                await self._store.put(status)
            except (RedisError, OSError) as exc:
                _log.warning("cannot publish status of node %r (%s); will retry", node_id, type(exc).__name__)
                return False
            if self._pending.get(node_id) is status:
                del self._pending[node_id]
        return True

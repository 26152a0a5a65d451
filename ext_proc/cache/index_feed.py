"""`IndexFollower`: keeps this replica's `PartitionedVectorIndex` current from the index feed.

On start it reads `CACHE_FEED` from the beginning ("0"), in batches without blocking, until a batch comes
back short: then `caught_up` is set and it follows with `XREAD BLOCK` from the last id it applied.
`EntryAdded` → `index.add` (already-expired entries are skipped), `NamespacePurged` →
`index.drop_namespace`; malformed events are skipped. After each read it calls `index.compact()` (the
follower is the index's writer: it runs on the event loop).

An event whose application raises (a bug, or data the decoder let through) is skipped: logged with its
traceback at most once per `quiet_s`, and the follower goes on with the next one. On a Redis error, or
any other unexpected error of a read, it logs (at most once per `quiet_s`), sleeps with exponential
backoff and resumes from the last id it applied; events trimmed from the stream meanwhile are simply
missed (the index only proposes candidates, re-read from Redis before serving, so a missed event costs a
miss). Only cancellation stops it. If Redis is down at start, `caught_up` waits until the first catch-up
succeeds: wait on it with a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import Any

from redis.exceptions import RedisError

from control_plane.cache_feed import EntryAdded, NamespacePurged, decode_feed_event
from control_plane.keys import CACHE_FEED
from control_plane.redis_client import RedisClient
from ext_proc.cache.store import ThrottledLog
from ext_proc.cache.vector_index import PartitionedVectorIndex

__all__ = ["IndexFollower"]

_logger = logging.getLogger(__name__)


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).rstrip()


def _stream_entries(value: list[Any]) -> list[Any]:
    if value and isinstance(value[0], list) and (not value[0] or isinstance(value[0][0], (list, tuple))):
        return [entry for group in value for entry in group]
    return value


class IndexFollower:
    """Applies the index feed to `index`, forever (`run` as a task; cancel it to stop)."""

    def __init__(
        self,
        client: RedisClient,
        index: PartitionedVectorIndex,
        *,
        block_ms: int = 1000,
        batch: int = 500,
        retry_s: float = 0.25,
        max_retry_s: float = 5.0,
        quiet_s: float = 30.0,
    ) -> None:
        self._client = client
        self._index = index
        self._block_ms = block_ms
        self._batch = batch
        self._retry_s = retry_s
        self._max_retry_s = max_retry_s
        self._log = ThrottledLog(_logger, quiet_s=quiet_s)
        self._event_log = ThrottledLog(_logger, quiet_s=quiet_s)
        """Failed events, apart from failed reads: a bad event does not hide a Redis outage."""
        self.last_id: bytes | str = "0"
        """The id of the last stream entry applied ("0" before the first)."""
        self.caught_up = asyncio.Event()
        """Set once the feed has been read to its end after start."""

    async def run(self) -> None:
        """Follow the feed until cancelled (errors are logged and retried, never raised)."""
        backoff = self._retry_s
        task = asyncio.current_task()
        while True:
            if task is not None and task.cancelling():
                # redis-py can swallow a cancellation that lands during a blocking read (redis-py #2028,
                # #2551): the request stays recorded on the task, so honour it here.
                raise asyncio.CancelledError
            try:
                if self.caught_up.is_set():
                    applied = await self._read(block_ms=self._block_ms)
                else:
                    applied = await self._read(block_ms=None)
                    if applied < self._batch:
                        self.caught_up.set()
            except (RedisError, OSError, TimeoutError) as exc:
                self._log.warning(
                    "cache index feed read failed (%s: %s); retrying in %.2f s",
                    type(exc).__name__,
                    exc,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(2 * backoff, self._max_retry_s)
                continue
            except Exception as exc:  # noqa: BLE001 - outlive a bug (CancelledError is no Exception)
                self._log.warning(
                    "cache index feed failed unexpectedly (%s: %s); retrying in %.2f s\n%s",
                    type(exc).__name__,
                    exc,
                    backoff,
                    _traceback(exc),
                )
                await asyncio.sleep(backoff)
                backoff = min(2 * backoff, self._max_retry_s)
                continue
            backoff = self._retry_s

    async def _read(self, *, block_ms: int | None) -> int:
        """Read and apply one batch after `last_id`, then compact the index; the number of entries read."""
        reply: Any = await self._client.xread({CACHE_FEED: self.last_id}, count=self._batch, block=block_ms)
        entries: list[Any]
        if isinstance(reply, dict):  # RESP3: {stream: [[(id, fields), ...]]} or {stream: [(id, fields), ...]}
            entries = [entry for value in reply.values() for entry in _stream_entries(value)]
        elif reply:  # RESP2: [[stream, [(id, fields), ...]]]
            entries = [entry for _stream, value in reply for entry in value]
        else:  # nothing new: a blocking read timed out
            entries = []
        now = time.time()
        for entry_id, fields in entries:
            self._apply(entry_id, fields, now)
            self.last_id = entry_id
        self._index.compact(now=now)
        return len(entries)

    def _apply(self, entry_id: object, fields: dict[Any, Any], now: float) -> None:
        """Apply one stream entry to the index; an entry whose application raises is logged and skipped."""
        try:
            self._apply_event(fields, now)
        except Exception as exc:  # noqa: BLE001 - skip the event, keep following; CancelledError passes
            self._event_log.warning(
                "cache index feed event %r skipped: applying it failed (%s: %s)\n%s",
                entry_id,
                type(exc).__name__,
                exc,
                _traceback(exc),
            )

    def _apply_event(self, fields: dict[Any, Any], now: float) -> None:
        normalized = {k.encode() if isinstance(k, str) else k: v for k, v in fields.items()}
        normalized = {k: v.encode() if isinstance(v, str) else v for k, v in normalized.items()}
        event = decode_feed_event(normalized)
        if isinstance(event, EntryAdded):
            self._index.add(event, now=now)
        elif isinstance(event, NamespacePurged):
            self._index.drop_namespace(event.namespace, event.generation)
        else:
            _logger.debug("skipping a malformed cache feed event %r", fields.get(b"op"))

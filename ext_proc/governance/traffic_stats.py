"""Traffic counters for the admin dashboard: counted in memory as ledger records are written, added to
Redis about once a second in one pipeline.

`RedisBillingSink` calls `settled(args, cost)` for every SETTLE that billed a record (duplicates are
not counted); the record is read back from the command (`args[16]` is its JSON up to `"cost_pico":`).
Each record is counted in its UTC minute and UTC hour (of `finished_at`):

- bucket hashes `tw:{stats}:m:<YYYYMMDDHHMM>` and `tw:{stats}:h:<YYYYMMDDHH>` with `TRAFFIC_FIELDS`
  (requests, errors, rejected, cache_hits, prompt/completion tokens, cost_pico), the latency histogram
  `lat|<i>` (finished_at - started_at in ms, over `LATENCY_BUCKETS_MS`, served requests only: rejected
  ones are not timed) and per model `m|<model>|requests|tokens|cost_pico|errors`;
- per tenant, hour buckets only: the zsets `tw:{stats}:th:<YYYYMMDDHH>:requests|tokens|cost`.

All keys share the hash tag `{stats}` (one Redis Cluster slot). These are statistics, not billing: a
flush goes out in chunks; a chunk Redis refused is kept for the next flush, a chunk that timed out is
dropped (it may have been applied: never counted twice), the pending counts are bounded by
`max_entries` (new entries beyond it are dropped and the drop logged), and a replica that dies loses
its last second. The ledger stays the truth. Nothing here ever raises into the ledger writer or slows
a request.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import orjson
from redis.exceptions import RedisError

from control_plane.keys import (
    TRAFFIC_HOUR_TTL_S,
    TRAFFIC_MINUTE_TTL_S,
    traffic_hour,
    traffic_latency_field,
    traffic_minute,
    traffic_model_field,
    traffic_tenant_top,
)
from control_plane.model import LATENCY_BUCKETS_MS, RequestOutcome
from control_plane.redis_client import RedisClient

__all__ = ["ERROR_OUTCOMES", "RECORD_ARG", "TrafficStatsRecorder"]

_log = logging.getLogger(__name__)

RECORD_ARG = 16
"""Index of the record's JSON prefix (up to `"cost_pico":`) in a SETTLE command's args."""
ERROR_OUTCOMES = frozenset(
    {
        RequestOutcome.UPSTREAM_ERROR.value,
        RequestOutcome.INCOMPLETE.value,
        RequestOutcome.UPSTREAM_CUT.value,
        RequestOutcome.LOST.value,
    }
)
"""Outcomes counted as errors (a rejection is the gateway doing its job, not an error)."""

_CHUNK = 5_000
"""Commands per pipeline of a flush (each within `timeout_s`)."""
_REJECTED = RequestOutcome.REJECTED.value
_CACHE_HIT = RequestOutcome.CACHE_HIT.value
_LATENCY_FIELDS = tuple(traffic_latency_field(i) for i in range(len(LATENCY_BUCKETS_MS) + 1))


def _as_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


class TrafficStatsRecorder:
    """Traffic counters in memory (bucket hashes and per-hour tenant zsets), added to Redis by `flush`."""

    def __init__(
        self,
        client: RedisClient | None,
        *,
        interval_s: float = 1.0,
        timeout_s: float = 1.0,
        max_entries: int = 200_000,
    ) -> None:
        self._client = client
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._max_entries = max_entries
        self._hashes: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._zsets: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._entries = 0
        self._dropped = 0

    # --- counting (sync, never raises) ----------------------------------------------------------------

    def settled(self, args: Sequence[str], cost: object) -> None:
        """Count the record of a SETTLE run that billed it (`cost`: the script's cost string)."""
        try:
            record = orjson.loads(args[RECORD_ARG] + _as_text(cost) + "}")
            self.record(record)
        except Exception:  # noqa: BLE001 - statistics must never break the ledger writer; logged
            _log.exception("traffic stats: could not count a ledger record")

    def record(self, record: Mapping[str, object]) -> None:
        """Count one ledger record (its JSON fields, as in `LedgerRecord`)."""
        finished = _utc(record["finished_at"])
        iso = finished.isoformat()  # YYYY-MM-DDTHH:MM:..., cheaper than strftime
        hour_tag = f"{iso[0:4]}{iso[5:7]}{iso[8:10]}{iso[11:13]}"
        minute_key = traffic_minute(hour_tag + iso[14:16])
        outcome = str(record["outcome"])
        prompt = int(str(record.get("prompt_tokens", 0)))
        completion = int(str(record.get("completion_tokens", 0)))
        cost = int(str(record.get("cost_pico", 0)))
        model = str(record.get("model", ""))
        tenant = str(record["tenant"])
        error = outcome in ERROR_OUTCOMES
        fields: dict[str, int] = {
            "requests": 1,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cost_pico": cost,
            traffic_model_field(model, "requests"): 1,
            traffic_model_field(model, "tokens"): prompt + completion,
            traffic_model_field(model, "cost_pico"): cost,
        }
        if error:
            fields["errors"] = 1
            fields[traffic_model_field(model, "errors")] = 1
        if outcome == _REJECTED:
            fields["rejected"] = 1
        else:
            elapsed_ms = (finished - _utc(record["started_at"])).total_seconds() * 1000
            fields[_LATENCY_FIELDS[bisect.bisect_left(LATENCY_BUCKETS_MS, elapsed_ms)]] = 1
        if outcome == _CACHE_HIT or record.get("cache_hit") is True:
            fields["cache_hits"] = 1
        self._add(self._hashes, minute_key, fields)
        self._add(self._hashes, traffic_hour(hour_tag), fields)
        for metric, amount in (("requests", 1), ("tokens", prompt + completion), ("cost", cost)):
            self._add(self._zsets, traffic_tenant_top(hour_tag, metric), {tenant: amount})

    def _add(
        self, table: defaultdict[str, defaultdict[str, int]], key: str, amounts: Mapping[str, int]
    ) -> None:
        counts = table.get(key)
        for field, amount in amounts.items():
            if not amount:
                continue
            if counts is not None and field in counts:
                counts[field] += amount
            elif self._entries < self._max_entries:
                counts = table[key]
                counts[field] = amount
                self._entries += 1
            else:
                self._dropped += 1

    def pending(self) -> dict[str, dict[str, int]]:
        """Counts not written to Redis yet, by key (tests)."""
        return {key: dict(counts) for key, counts in (*self._hashes.items(), *self._zsets.items())}

    @property
    def pending_entries(self) -> int:
        """How many (key, field) counters wait for a flush; never more than `max_entries`."""
        return self._entries

    # --- writing -------------------------------------------------------------------------------------

    async def flush(self) -> bool:
        """Write what was counted, in chunks of about `_CHUNK` commands; True if nothing is left pending.

        A chunk that Redis refused (unreachable) is kept for the next flush with everything not sent yet.
        A chunk that timed out is dropped and logged: Redis may have applied it, and sending it again
        could count it twice (or more, if every retry timed out). Cancelled mid-write (shutdown), the
        chunks not sent yet are kept for the final `flush`."""
        if self._dropped:
            _log.warning(
                "traffic stats: %d counts dropped (more than %d pending)", self._dropped, self._max_entries
            )
            self._dropped = 0
        if not self._entries or self._client is None:
            return not self._entries
        chunks = self._take_chunks()
        sent = 0  # chunks written so far; `chunks[sent]` is the one in flight
        try:
            for chunk in chunks:
                await self._write(chunk)
                sent += 1
        except TimeoutError:
            lost = sum(len(counts) for _, _, counts in chunks[sent])
            _log.warning("traffic stats: a write timed out; %d counters dropped (never counted twice)", lost)
            self._requeue(chunks[sent + 1 :])
            return False
        except (RedisError, OSError):
            self._requeue(chunks[sent:])
            _log.warning("traffic stats not written (Redis unavailable); %d counters kept", self._entries)
            return False
        except BaseException:
            self._requeue(chunks[sent:])
            raise
        return True

    def _take_chunks(self) -> list[list[tuple[str, bool, dict[str, int]]]]:
        """Everything pending as (key, is_zset, counts) units, grouped into chunks, and reset."""
        units = [(key, False, dict(counts)) for key, counts in self._hashes.items()]
        units += [(key, True, dict(counts)) for key, counts in self._zsets.items()]
        self._hashes = defaultdict(lambda: defaultdict(int))
        self._zsets = defaultdict(lambda: defaultdict(int))
        self._entries = 0
        chunks: list[list[tuple[str, bool, dict[str, int]]]] = [[]]
        size = 0
        for unit in units:
            if size >= _CHUNK:
                chunks.append([])
                size = 0
            chunks[-1].append(unit)
            size += len(unit[2]) + 1
        return chunks

    def _requeue(self, chunks: Sequence[Sequence[tuple[str, bool, dict[str, int]]]]) -> None:
        for chunk in chunks:
            for key, is_zset, counts in chunk:
                self._add(self._zsets if is_zset else self._hashes, key, counts)

    async def _write(self, chunk: Sequence[tuple[str, bool, dict[str, int]]]) -> None:
        assert self._client is not None
        async with asyncio.timeout(self._timeout_s), self._client.pipeline(transaction=False) as pipe:
            for key, is_zset, counts in chunk:
                for field, amount in counts.items():
                    if is_zset:
                        pipe.zincrby(key, amount, field)
                    else:
                        pipe.hincrby(key, field, amount)
                ttl = TRAFFIC_HOUR_TTL_S if is_zset or ":h:" in key else TRAFFIC_MINUTE_TTL_S
                pipe.expire(key, ttl)
            await pipe.execute()

    async def run_flusher(self) -> None:
        """Flush every `interval_s`, forever (run as a task; cancel, then `flush`, to stop)."""
        while True:
            await asyncio.sleep(self._interval_s)
            await self.flush()


def _utc(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC)

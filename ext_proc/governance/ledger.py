"""The `BillingSink`: settle reservations to actual usage and append ledger records, off the hot path.

`finish` and `reject` only build a `SettleCommand` and queue it (never block, never raise). The writer
task runs each through the SETTLE script (pipelined in batches): the script bills a request id at most
once (`billed` key, `SET NX EX`), releases the lease and reservation, moves every counter from
reserved to actual, adds the usage hashes and XADDs the record. If Redis fails, the batch goes to the
durable `Spool` and the writer keeps spooling for `retry_s`; the replayer re-runs spooled commands
when Redis is back (idempotent). `close` drains the queue to Redis or, failing that, to the spool —
the buffer is never dropped. A queue longer than `queue_max` spills straight to the spool.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from redis.exceptions import AskError, ClusterDownError, MovedError, RedisError, ResponseError, TryAgainError

from control_plane.model import BillingKind, Limits, RequestOutcome
from control_plane.redis_client import RedisClient, queue_script
from ext_proc.governance.contracts import Admission, PolicyTableSource, Principal, RequestResult
from ext_proc.governance.lease import LeaseBook
from ext_proc.governance.quota_scripts import SETTLE
from ext_proc.governance.settlement import BillingTerms, RecordFields, SettleCommand, cost_for, settle_command
from ext_proc.governance.spool import Spool
from ext_proc.governance.traffic_stats import TrafficStatsRecorder

__all__ = ["RedisBillingSink"]

_logger = logging.getLogger(__name__)

_BATCH = 256
_MAX_STRIKES = 3
_MAX_TRACKED_STRIKES = 10_000
_REJECT_TERMS = BillingTerms(BillingKind.PER_TOKEN)
_NOT_DONE = (ClusterDownError, TryAgainError, MovedError, AskError)
"""Replies (ResponseError subclasses) a cluster pipeline gives for a command it did not run: replay them,
never send them to the dead spool. A cluster pipeline also returns connection errors as results."""


def _now() -> datetime:
    return datetime.now(UTC)


class RedisBillingSink:
    """Queues settlements; `run_writer` and `run_replayer` are its background tasks."""

    def __init__(
        self,
        client: RedisClient,
        policies: PolicyTableSource,
        leases: LeaseBook,
        spool: Spool,
        *,
        dedupe_ttl_s: int = 7 * 86_400,
        queue_max: int = 100_000,
        retry_s: float = 1.0,
        timeout_s: float = 5.0,
        clock: Callable[[], datetime] = _now,
        traffic: TrafficStatsRecorder | None = None,
    ) -> None:
        self._client = client
        self._traffic = traffic
        """Counts every record SETTLE billed, for the dashboard (statistics; None: not counted)."""
        self._policies = policies
        self._leases = leases
        self.spool = spool
        self._dedupe_ttl_s = dedupe_ttl_s
        self._queue: asyncio.Queue[SettleCommand] = asyncio.Queue()
        self._queue_max = queue_max
        self._retry_s = retry_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._down_until = 0.0
        self._unfinished: list[SettleCommand] = []
        self._strikes: dict[str, int] = {}
        """Unexpected failures per request id (see `_isolate`)."""
        self._settle = client.register_script(SETTLE)

    # --- the BillingSink interface (sync, never raises) ----------------------------------------------

    def finish(self, admission: Admission, result: RequestResult) -> None:
        try:
            command = self._finish_command(admission, result)
        except Exception:  # billing must never break a request; the bug is logged
            _logger.exception("could not build the settlement of %s", admission.request.request_id)
            return
        if admission.local_only:
            self._leases.release(command.tenant, command.request_id)
        self._enqueue(command)

    def reject(
        self,
        *,
        request_id: str,
        principal: Principal,
        model: str,
        status_code: int,
        error_code: str,
        stream: bool,
        started_at: datetime,
        limits: Limits | None = None,
    ) -> None:
        record = RecordFields(
            request_id=request_id,
            tenant=principal.tenant,
            key_id=principal.key_id,
            model=model,
            outcome=RequestOutcome.REJECTED,
            started_at=started_at,
            finished_at=self._clock(),
            status_code=status_code,
            error_code=error_code,
            stream=stream,
        )
        self._enqueue(
            settle_command(
                record,
                # The tenant's limits let SETTLE undo bucket charges of an ADMIT whose reply was lost.
                limits=limits or Limits(),
                terms=_REJECT_TERMS,
                cost="0",
                billable=0,
                dedupe_ttl_s=self._dedupe_ttl_s,
            )
        )

    def _finish_command(self, admission: Admission, result: RequestResult) -> SettleCommand:
        request = admission.request
        table = self._policies.current
        price = table.price(request.model, request.started_at) if table is not None else None
        terms = BillingTerms.of(request.policy.plan)
        cost, billable = cost_for(
            terms,
            price,
            outcome=result.outcome,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cached_tokens=result.cached_tokens,
        )
        record = RecordFields(
            request_id=request.request_id,
            tenant=request.principal.tenant,
            key_id=request.principal.key_id,
            model=request.model,
            outcome=result.outcome,
            started_at=request.started_at,
            finished_at=result.finished_at,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cached_tokens=result.cached_tokens,
            price_version=price.version if price is not None else "",
            status_code=result.status_code,
            error_code=result.error_code,
            stream=request.stream,
            cache_hit=result.cache_hit,
            estimated=result.estimated,
            backend=result.backend,
        )
        return settle_command(
            record,
            limits=request.policy.limits,
            terms=terms,
            cost=cost,
            billable=billable,
            dedupe_ttl_s=self._dedupe_ttl_s,
        )

    def _enqueue(self, command: SettleCommand) -> None:
        if self._queue.qsize() >= self._queue_max:
            try:
                self.spool.append([command])
            except OSError:
                _logger.exception(
                    "ledger queue full and spool unwritable; record %s lost", command.request_id
                )
            return
        self._queue.put_nowait(command)

    # --- writing ----------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Commands queued in memory, not yet written or spooled."""
        return self._queue.qsize()

    async def run_writer(self) -> None:
        """Write queued commands forever (run as a task; cancel, then `close`, to stop)."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._unfinished = batch  # re-run by `close` if cancelled mid-write (idempotent)
            while True:  # a failing disk must not end the writer: keep the batch and retry
                try:
                    await self._write(batch)
                    break
                except Exception:
                    _logger.exception("ledger writer failed (%d records kept); retrying", len(batch))
                    await asyncio.sleep(max(self._retry_s, 0.5))
            self._unfinished = []

    async def _write(self, batch: Sequence[SettleCommand]) -> None:
        if time.monotonic() < self._down_until or not await self.execute(batch):
            await asyncio.to_thread(self.spool.append, batch)

    async def execute(self, batch: Sequence[SettleCommand]) -> bool:
        """Run `batch` in one pipeline; False (nothing known to be done) when Redis is unreachable."""
        try:
            async with asyncio.timeout(self._timeout_s), self._client.pipeline(transaction=False) as pipe:
                for command in batch:
                    await queue_script(pipe, self._settle, keys=command.keys, args=command.args)
                results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError, TimeoutError) as exc:
            self._down_until = time.monotonic() + self._retry_s
            _logger.warning("ledger write failed (%s); spooling %d records", type(exc).__name__, len(batch))
            return False
        except Exception:  # not a Redis error: a client bug, or one command that always fails
            _logger.exception("ledger write failed unexpectedly (%d records)", len(batch))
            return await self._isolate(batch)
        dead: list[SettleCommand] = []
        unsure: list[SettleCommand] = []
        for command, outcome in zip(batch, results, strict=True):
            if isinstance(outcome, _NOT_DONE) or (
                isinstance(outcome, Exception) and not isinstance(outcome, ResponseError)
            ):
                unsure.append(command)  # a cluster node lost mid-batch: maybe not run; replayed (idempotent)
                continue  # its lease stays until the replay settles it
            if isinstance(outcome, ResponseError):
                _logger.error("SETTLE refused %s: %s", command.request_id, outcome)
                dead.append(command)
            elif self._traffic is not None and isinstance(outcome, list) and outcome and outcome[0] == 1:
                self._traffic.settled(command.args, outcome[1])  # 0 = a duplicate: counted once only
            self._leases.release(command.tenant, command.request_id)
        if unsure:
            self._down_until = time.monotonic() + self._retry_s
            _logger.warning("ledger write failed for %d of %d records; spooled", len(unsure), len(batch))
            await asyncio.to_thread(self.spool.append, unsure)
        if dead:
            await asyncio.to_thread(self.spool.append, dead, dead=True)
        return True

    async def _isolate(self, batch: Sequence[SettleCommand]) -> bool:
        """After an unexpected failure: run the commands one by one, so that one that always fails
        cannot keep every other record (and the quota counters) out of Redis. A single command that
        fails this way `_MAX_STRIKES` times goes to the dead spool (kept for an operator); before
        that it is kept for a retry (the failure may be the connection's, not the command's)."""
        if len(batch) > 1:
            done = True
            for command in batch:
                if not await self.execute([command]):
                    done = False
                    if command.request_id not in self._strikes:
                        break  # Redis itself failed: stop here
            return done  # not done: the caller keeps the whole batch (a re-run is billed once)
        command = batch[0]
        if len(self._strikes) > _MAX_TRACKED_STRIKES:
            self._strikes.clear()
        strikes = self._strikes[command.request_id] = self._strikes.get(command.request_id, 0) + 1
        if strikes < _MAX_STRIKES:
            self._down_until = time.monotonic() + self._retry_s
            return False
        del self._strikes[command.request_id]
        _logger.error("SETTLE of %s failed %d times; moved to the dead spool", command.request_id, strikes)
        await asyncio.to_thread(self.spool.append, [command], dead=True)
        self._leases.release(command.tenant, command.request_id)
        return True

    async def replay_once(self) -> int:
        """Re-run every spooled command; the number of files fully replayed.

        Files not replayed (Redis failed midway, or anything raised) go back to the ready set: a file
        left claimed would not be replayed again before the process restarts."""
        claimed = await asyncio.to_thread(self.spool.claim)
        replayed = 0
        try:
            for path in claimed:
                commands = await asyncio.to_thread(Spool.read, path)
                for start in range(0, len(commands), _BATCH):
                    if not await self.execute(commands[start : start + _BATCH]):
                        return replayed
                await asyncio.to_thread(self.spool.done, path)
                replayed += 1
                _logger.info("replayed %d spooled ledger records (%s)", len(commands), path.name)
            return replayed
        finally:
            self._give_back(claimed[replayed:])

    def _give_back(self, paths: Sequence[Path]) -> None:
        # Synchronous on purpose: it also runs while the task is being cancelled (renames are quick).
        for path in paths:
            try:
                self.spool.give_back(path)
            except OSError:
                _logger.exception("could not return spool file %s to the ready set", path.name)

    async def run_replayer(self, interval_s: float = 1.0) -> None:
        """Replay the spool whenever it holds records and Redis looks reachable (task; cancel to stop)."""
        while True:
            await asyncio.sleep(interval_s)
            if time.monotonic() < self._down_until:
                continue
            try:
                if await asyncio.to_thread(self.spool.has_pending):
                    await self.replay_once()
            except Exception:  # a spool file error must not end the replayer
                _logger.exception("spool replay failed; retrying in %.1f s", interval_s)

    async def close(self) -> None:
        """Drain the queue (to Redis, else to the spool). Call after cancelling `run_writer`."""
        batch, self._unfinished = self._unfinished, []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        for start in range(0, len(batch), _BATCH):
            chunk = batch[start : start + _BATCH]
            if time.monotonic() < self._down_until or not await self.execute(chunk):
                self.spool.append(chunk)

    @property
    def spool_dir(self) -> Path:
        return self.spool.directory

"""How the ledger writer sorts a pipeline's per-command results (a cluster pipeline returns errors as
results instead of raising): done, refused (dead spool), or not known to have run (spooled, replayed)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redis.exceptions import ClusterDownError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from ext_proc.governance.lease import LeaseBook
from ext_proc.governance.ledger import RedisBillingSink
from ext_proc.governance.policies import PolicyTableHolder
from ext_proc.governance.settlement import SettleCommand
from ext_proc.governance.spool import Spool


class _Pipeline:
    def __init__(self, results: Sequence[object]) -> None:
        self.results, self.queued = list(results), 0

    async def __aenter__(self) -> _Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, raise_on_error: bool = True) -> list[object]:
        assert raise_on_error is False
        return self.results[: self.queued]


class _Script:
    async def __call__(self, *, keys: Any, args: Any, client: _Pipeline) -> None:
        client.queued += 1


class _Client:
    def __init__(self, results: Sequence[object]) -> None:
        self.results = results

    def register_script(self, _source: str) -> _Script:
        return _Script()

    def pipeline(self, transaction: bool = True) -> _Pipeline:
        return _Pipeline(self.results)


def _command(rid: str) -> SettleCommand:
    return SettleCommand("acme", rid, ("k1",), ("a",))


def test_results_that_are_not_a_refusal_are_spooled_and_keep_their_lease(tmp_path: Path) -> None:
    results = [
        [1, "100"],  # billed
        RedisConnectionError("node lost"),  # maybe not run
        ClusterDownError("CLUSTERDOWN"),  # not run (a ResponseError, but never a dead record)
        ResponseError("ERR bad argument"),  # the script refused it: dead spool
        [0, "0"],  # a duplicate: done
    ]
    leases = LeaseBook()
    for rid in ("r1", "r2", "r3", "r4", "r5"):
        leases.hold("acme", rid, local=False)
    spool = Spool(tmp_path)
    sink = RedisBillingSink(_Client(results), PolicyTableHolder(), leases, spool)  # type: ignore[arg-type]

    batch = [_command(rid) for rid in ("r1", "r2", "r3", "r4", "r5")]
    assert asyncio.run(sink.execute(batch)) is True

    claimed = spool.claim()
    spooled = [command.request_id for path in claimed for command in Spool.read(path)]
    assert spooled == ["r2", "r3"]  # replayed later; SETTLE bills a request id once
    dead = [c.request_id for c in Spool.read(next(tmp_path.glob("dead-*.jsonl")))]
    assert dead == ["r4"]
    assert leases.redis_leases() == {"acme": ["r2", "r3"]}  # held until a replay settles them

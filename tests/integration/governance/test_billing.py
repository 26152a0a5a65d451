"""Ledger durability against a real Valkey: reconciler, lease renewal, spool + replay, degraded modes."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from control_plane.keys import tenant_inflight, tenant_ledger, tenant_rate, tenant_reservations
from control_plane.model import LedgerRecord, Limits, RequestOutcome
from ext_proc.errors import InsufficientQuotaError, QuotaUnavailableError, RateLimitedError
from ext_proc.governance.contracts import RequestResult
from ext_proc.governance.lease import LeaseRenewer
from ext_proc.governance.reconciler import Reconciler
from ext_proc.governance.runtime import GovernanceRuntime
from ext_proc.governance.traffic_stats import TrafficStatsRecorder
from ext_proc.settings import ExtProcSettings
from tests.integration.governance.conftest import (
    Governance,
    ValkeyContainer,
    ValkeyServer,
    holder_for,
    request,
    snapshot,
    stream_values,
)


def ok(prompt: int, completion: int) -> RequestResult:
    return RequestResult(
        outcome=RequestOutcome.OK,
        status_code=200,
        finished_at=datetime.now(UTC),
        prompt_tokens=prompt,
        completion_tokens=completion,
    )


async def records(client: aioredis.Redis, tenant: str = "acme") -> list[LedgerRecord]:
    return [
        LedgerRecord.model_validate_json(raw) for raw in await stream_values(client, tenant_ledger(tenant))
    ]


async def test_reconciler_bills_an_expired_lease_once_and_finish_after_does_not_double(
    redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    holder = holder_for(snapshot(Limits(tokens_per_minute=100_000)))
    gov = Governance(redis_client, holder, tmp_path, lease_ttl_s=1.0)
    admission = await gov.gate.admit(request(holder, "crashed", prompt=120, output=80))
    traffic = TrafficStatsRecorder(None)
    first = Reconciler(redis_client, holder, grace_s=0.3, traffic=traffic)
    second = Reconciler(redis_client, holder, grace_s=0.3, traffic=traffic)
    assert await first.reconcile_once() == 0  # still alive
    await asyncio.sleep(1.4)
    counts = await asyncio.gather(first.reconcile_once(), second.reconcile_once())
    assert sorted(counts) == [0, 1]
    (record,) = await records(redis_client)
    assert record.outcome is RequestOutcome.LOST
    assert record.estimated is True
    assert (record.prompt_tokens, record.completion_tokens) == (120, 80)
    assert record.cost_pico == admission.reserved_cost_pico == 120 * 1_000_000 + 80 * 2_000_000
    assert await redis_client.hlen(tenant_reservations("acme")) == 0
    assert await redis_client.zcard(tenant_inflight("acme")) == 0
    assert await redis_client.hmget(tenant_rate("acme"), "rc", "rt") == [b"0", b"0"]
    assert await second.reconcile_once() == 0
    counted = [c for key, c in traffic.pending().items() if ":m:" in key]  # the dashboard's minute
    assert len(counted) == 1
    assert counted[0]["requests"] == 1  # one lost request, counted by the replica that billed it
    assert counted[0]["errors"] == 1
    gov.billing.finish(admission, ok(100, 500))  # the "dead" replica was only slow
    await gov.flush()
    assert len(await records(redis_client)) == 1


async def test_renewed_leases_are_not_reclaimed(redis_client: aioredis.Redis, tmp_path: Path) -> None:
    holder = holder_for(snapshot())
    gov = Governance(redis_client, holder, tmp_path, lease_ttl_s=1.0)
    await gov.gate.admit(request(holder, "long-stream"))
    renewer = LeaseRenewer(redis_client, gov.leases, lease_ttl_s=1.0)
    reconciler = Reconciler(redis_client, holder, grace_s=0.2)
    for _ in range(6):  # 2.4 s, well past the 1 s lease
        await asyncio.sleep(0.4)
        assert await renewer.renew_once() == 1
        assert await reconciler.reconcile_once() == 0
    await asyncio.sleep(1.4)  # renewal stopped: the lease expires and is billed
    assert await reconciler.reconcile_once() == 1


async def test_spool_while_redis_is_down_then_replay_exactly_once(
    valkey: ValkeyServer | ValkeyContainer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    holder = holder_for(snapshot())
    spool_dir = tmp_path / "spool"
    gov = Governance(redis_client, holder, spool_dir)
    admissions = [await gov.gate.admit(request(holder, f"s{i}", prompt=10 + i)) for i in range(5)]
    valkey.stop()
    for admission in admissions:
        gov.billing.finish(admission, ok(admission.request.prompt_tokens, 7))
    await gov.flush()
    spooled = sorted(spool_dir.glob("*.jsonl"))
    assert len(spooled) == 1
    assert len(spooled[0].read_bytes().splitlines()) == 5
    copy = tmp_path / "copy.jsonl"
    shutil.copy(spooled[0], copy)
    valkey.start()  # an empty server (no persistence in tests): the replay alone must rebuild the ledger
    assert await gov.billing.replay_once() == 1
    assert not any(spool_dir.glob("*.jsonl"))
    assert not any(spool_dir.glob("*.ready"))
    shutil.copy(copy, spool_dir / "again.ready")  # replaying the same records again changes nothing
    assert await gov.billing.replay_once() == 1
    got = await records(redis_client)
    assert sorted(r.request_id for r in got) == [f"s{i}" for i in range(5)]
    assert sum(r.prompt_tokens for r in got) == sum(10 + i for i in range(5))


async def test_a_replay_that_raises_midway_returns_its_files_and_the_next_one_bills_them(
    valkey: ValkeyServer | ValkeyContainer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder = holder_for(snapshot())
    spool_dir = tmp_path / "spool"
    gov = Governance(redis_client, holder, spool_dir)
    admissions = [await gov.gate.admit(request(holder, f"r{i}", prompt=10)) for i in range(4)]
    valkey.stop()
    for index, admission in enumerate(admissions):
        gov.billing.finish(admission, ok(10, 1))
        await gov.flush()
        if index < 3:
            gov.billing.spool.claim()  # seal: one ready file per record
            for claimed in spool_dir.glob("*.replaying-*"):
                gov.billing.spool.give_back(claimed)
    valkey.start()
    real_execute = gov.billing.execute
    calls = 0

    async def execute_then_break(batch):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("a client bug on a half-closed connection")
        return await real_execute(batch)

    monkeypatch.setattr(gov.billing, "execute", execute_then_break)
    with pytest.raises(RuntimeError):
        await gov.billing.replay_once()
    assert list(spool_dir.glob("*.replaying-*")) == []  # nothing left claimed
    assert len(list(spool_dir.glob("*.ready"))) == 3
    monkeypatch.setattr(gov.billing, "execute", real_execute)
    assert await gov.billing.replay_once() == 3
    got = await records(redis_client)
    assert sorted(r.request_id for r in got) == [f"r{i}" for i in range(4)]


async def test_a_command_that_always_fails_is_isolated_then_dead_lettered(
    redis_client: aioredis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = holder_for(snapshot())
    spool_dir = tmp_path / "spool"
    gov = Governance(redis_client, holder, spool_dir)
    admissions = [await gov.gate.admit(request(holder, rid, prompt=10)) for rid in ("g1", "bad", "g2")]
    settle = gov.billing._settle

    async def settle_unless_poisoned(*, keys, args, client):  # type: ignore[no-untyped-def]
        if any(b"bad" in (a if isinstance(a, bytes) else str(a).encode()) for a in args):
            raise TypeError("a command this client cannot encode")
        return await settle(keys=keys, args=args, client=client)

    monkeypatch.setattr(gov.billing, "_settle", settle_unless_poisoned)
    for admission in admissions:
        gov.billing.finish(admission, ok(10, 1))
    await gov.flush()  # one batch: isolated, the good two written, the bad one kept (strike 1)
    assert sorted(r.request_id for r in await records(redis_client)) == ["g1", "g2"]
    assert await gov.billing.replay_once() == 0  # strike 2: kept again
    assert await gov.billing.replay_once() == 1  # strike 3: dead-lettered, the file is done
    dead = list(spool_dir.glob("dead-*.jsonl"))
    assert len(dead) == 1
    assert b"bad" in dead[0].read_bytes()
    assert not any(spool_dir.glob("*.ready"))
    assert sorted(r.request_id for r in await records(redis_client)) == ["g1", "g2"]


async def test_runtime_stop_drains_the_queue_to_the_spool(
    valkey: ValkeyServer | ValkeyContainer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    holder = holder_for(snapshot())
    settings = ExtProcSettings(spool_dir=tmp_path / "spool", reconcile_interval_s=60)
    runtime = GovernanceRuntime(settings, redis_client, holder)
    async with runtime:
        admissions = [await runtime.gate.admit(request(holder, f"d{i}")) for i in range(3)]
        valkey.stop()
        for admission in admissions:
            runtime.billing.finish(admission, ok(100, 1))
    lines = [line for f in (tmp_path / "spool").iterdir() for line in f.read_bytes().splitlines()]
    assert sorted(orjson.loads(line)["i"] for line in lines) == ["d0", "d1", "d2"]


async def test_fail_closed_answers_503_and_records_the_refusal(
    valkey: ValkeyServer | ValkeyContainer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    holder = holder_for(snapshot(Limits(requests_per_minute=100)))
    gov = Governance(redis_client, holder, tmp_path / "spool")
    valkey.stop()
    with pytest.raises(QuotaUnavailableError):
        await gov.gate.admit(request(holder, "x"))
    await gov.flush()
    (line,) = next((tmp_path / "spool").glob("*.jsonl")).read_bytes().splitlines()
    assert orjson.loads(line)["i"] == "x"


async def test_local_mode_enforces_a_share_and_never_unlimited(
    valkey: ValkeyServer | ValkeyContainer, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    holder = holder_for(
        snapshot(Limits(requests_per_minute=10, daily_tokens=1_000), tenants=("acme", "fresh"))
    )
    gov = Governance(redis_client, holder, tmp_path, failure_mode="local", replicas=2)
    seen = await gov.gate.admit(request(holder, "seen", prompt=100))  # Redis reports 900 left today
    assert not seen.local_only
    valkey.stop()
    local = [await gov.gate.admit(request(holder, f"l{i}", prompt=100)) for i in range(4)]
    assert all(a.local_only for a in local)
    # 900 // 2 = 450 tokens for this replica: 4 x 100 fit, a fifth would be 500
    with pytest.raises(InsufficientQuotaError):
        await gov.gate.admit(request(holder, "l4", prompt=100))
    # the RPM share (10 // 2 = 5) is enforced too: 4 used, one small request left
    await gov.gate.admit(request(holder, "tiny", prompt=1))
    with pytest.raises(RateLimitedError):
        await gov.gate.admit(request(holder, "tiny2", prompt=1))
    # a tenant Redis never reported on gets no unlimited pass
    with pytest.raises(QuotaUnavailableError):
        await gov.gate.admit(request(holder, "f", tenant="fresh"))

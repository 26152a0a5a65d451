"""The traffic statistics recorder: counting ledger records per minute and hour (totals, latency
histogram, per model, per tenant), flushing to a real Valkey, counting only what SETTLE billed (never
a duplicate), and keeping bounded counts while Redis is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from control_plane.keys import (
    traffic_hour,
    traffic_latency_field,
    traffic_minute,
    traffic_model_field,
    traffic_tenant_top,
)
from control_plane.model import BillingKind, Limits, RequestOutcome
from control_plane.redis_client import connect
from ext_proc.governance.lease import LeaseBook
from ext_proc.governance.ledger import RedisBillingSink
from ext_proc.governance.policies import PolicyTableHolder
from ext_proc.governance.settlement import BillingTerms, RecordFields, SettleCommand, settle_command
from ext_proc.governance.spool import Spool
from ext_proc.governance.traffic_stats import TrafficStatsRecorder

T0 = datetime(2026, 11, 21, 12, 34, 10, tzinfo=UTC)
MINUTE = traffic_minute("202611211234")
HOUR = traffic_hour("2026112112")


def command(
    request_id: str,
    *,
    tenant: str = "acme",
    model: str = "gpt-x",
    outcome: RequestOutcome = RequestOutcome.OK,
    latency_ms: int = 120,
    prompt: int = 100,
    completion: int = 50,
    cost: str = "3000000",
) -> SettleCommand:
    record = RecordFields(
        request_id=request_id,
        tenant=tenant,
        key_id="k1",
        model=model,
        outcome=outcome,
        started_at=T0 - timedelta(milliseconds=latency_ms),
        finished_at=T0,
        prompt_tokens=prompt,
        completion_tokens=completion,
        status_code=200,
    )
    return settle_command(
        record,
        limits=Limits(),
        terms=BillingTerms(BillingKind.PER_TOKEN),
        cost=cost,
        billable=1,
        dedupe_ttl_s=600,
    )


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    redis_client = connect(valkey_url)
    await redis_client.flushdb()
    yield redis_client
    await redis_client.aclose()


def test_counts_a_record_in_its_minute_and_hour() -> None:
    recorder = TrafficStatsRecorder(None)
    recorder.settled(command("r1").args, "3000000")
    recorder.settled(command("r2", outcome=RequestOutcome.UPSTREAM_ERROR, latency_ms=700).args, b"0")
    recorder.settled(command("r3", outcome=RequestOutcome.REJECTED, prompt=0, completion=0).args, "0")
    recorder.settled(command("r4", outcome=RequestOutcome.CACHE_HIT, model="m2").args, "10")
    pending = recorder.pending()
    minute = pending[MINUTE]
    assert pending[HOUR] == minute
    assert minute["requests"] == 4
    assert minute["errors"] == 1
    assert minute["rejected"] == 1
    assert minute["cache_hits"] == 1
    assert minute["prompt_tokens"] == 300
    assert minute["completion_tokens"] == 150
    assert minute["cost_pico"] == 3_000_010
    # 120 ms falls in (100, 250]: index 3; 700 ms in (500, 1000]: index 5; rejected ones are not timed
    assert minute[traffic_latency_field(3)] == 2
    assert minute[traffic_latency_field(5)] == 1
    assert minute[traffic_model_field("gpt-x", "requests")] == 3
    assert minute[traffic_model_field("gpt-x", "errors")] == 1
    assert minute[traffic_model_field("gpt-x", "tokens")] == 300
    assert minute[traffic_model_field("m2", "cost_pico")] == 10
    assert pending[traffic_tenant_top("2026112112", "requests")] == {"acme": 4}
    assert pending[traffic_tenant_top("2026112112", "tokens")] == {"acme": 450}


def test_a_malformed_command_is_logged_not_raised() -> None:
    recorder = TrafficStatsRecorder(None)
    recorder.settled(("x",) * 20, "0")
    assert recorder.pending_entries == 0


async def test_flush_adds_the_counts_to_redis(client: aioredis.Redis) -> None:
    recorder = TrafficStatsRecorder(client)
    recorder.settled(command("r1").args, "3000000")
    assert await recorder.flush()
    recorder.settled(command("r2", tenant="beta").args, "1000000")
    assert await recorder.flush()
    assert recorder.pending_entries == 0
    minute = await client.hgetall(MINUTE)
    assert minute[b"requests"] == b"2"
    assert minute[b"cost_pico"] == b"4000000"
    assert 0 < await client.ttl(MINUTE) <= 3 * 3600
    assert 7 * 86_400 < await client.ttl(HOUR) <= 8 * 86_400
    ranked = await client.zrevrange(traffic_tenant_top("2026112112", "cost"), 0, -1, withscores=True)
    assert ranked == [(b"acme", 3_000_000.0), (b"beta", 1_000_000.0)]


async def test_the_sink_counts_billed_records_once(client: aioredis.Redis, tmp_path: Path) -> None:
    recorder = TrafficStatsRecorder(client)
    sink = RedisBillingSink(client, PolicyTableHolder(), LeaseBook(), Spool(tmp_path), traffic=recorder)
    first = command("dup-1")
    assert await sink.execute([first, command("dup-2", completion=0)])
    assert await sink.execute([first])  # the same request again: SETTLE answers 'duplicate'
    assert recorder.pending()[MINUTE]["requests"] == 2
    assert recorder.pending()[MINUTE]["cost_pico"] == 6_000_000
    assert await recorder.flush()
    assert await client.hget(HOUR, "requests") == b"2"


async def test_a_failing_redis_keeps_bounded_counts() -> None:
    dead = connect("redis://127.0.0.1:1/0")
    try:
        recorder = TrafficStatsRecorder(dead, timeout_s=0.5, max_entries=40)
        recorder.settled(command("r1").args, "5")
        kept = recorder.pending_entries
        assert not await recorder.flush()
        assert recorder.pending_entries == kept  # kept for the next flush
        for i in range(200):  # many tenants and models: new entries beyond the bound are dropped
            recorder.settled(command(f"r{i}", tenant=f"t{i}", model=f"m{i}").args, "5")
        assert recorder.pending_entries <= 40
        assert not await recorder.flush()
        assert recorder.pending_entries <= 40
        assert recorder.pending()[MINUTE]["requests"] >= 1
    finally:
        await dead.aclose()


async def test_a_large_flush_goes_in_chunks_and_all_arrives(client: aioredis.Redis) -> None:
    recorder = TrafficStatsRecorder(client, max_entries=100_000)
    for i in range(3_000):  # ~6 fields per model and tenant: well over one chunk of 5,000 commands
        recorder.settled(command(f"c{i}", tenant=f"t{i}", model=f"m{i % 1_500}").args, "1")
    assert recorder.pending_entries > 5_000
    assert await recorder.flush()
    assert await client.hget(MINUTE, "requests") == b"3000"
    assert await client.zcard(traffic_tenant_top("2026112112", "requests")) == 3_000


class _SlowPipeline:
    """A pipeline whose `execute` never answers in time (Redis may or may not have applied it)."""

    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None

    async def __aenter__(self) -> _SlowPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self) -> list[object]:
        await asyncio.sleep(10)
        return []


class _SlowClient:
    def pipeline(self, transaction: bool = False) -> _SlowPipeline:
        return _SlowPipeline()


async def test_a_timed_out_write_is_dropped_never_sent_twice() -> None:
    recorder = TrafficStatsRecorder(_SlowClient(), timeout_s=0.05)  # type: ignore[arg-type]
    recorder.settled(command("t1").args, "5")
    assert not await recorder.flush()
    assert recorder.pending_entries == 0  # not kept: it may have been applied


async def test_a_cancelled_flush_keeps_what_it_had_not_written() -> None:
    recorder = TrafficStatsRecorder(_SlowClient(), timeout_s=30)  # type: ignore[arg-type]
    recorder.settled(command("c1").args, "5")
    kept = recorder.pending_entries
    task = asyncio.create_task(recorder.flush())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.pending_entries == kept  # the final flush at shutdown writes them

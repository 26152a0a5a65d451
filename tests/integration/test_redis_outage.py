"""Valkey stopped for 30 s under load, then restarted: the failure table of ARCHITECTURE.md, row by row.

- auth: known keys keep working from the local cache; unknown keys get 503 `auth_unavailable`.
- quota: fail closed (the default): 503 `quota_unavailable`, never unlimited.
- billing: never blocks; records are spooled on local disk and replayed, none lost, none doubled.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import redis

from control_plane.admin_client import AdminClient
from control_plane.keys import tenant_ledger
from control_plane.launcher import Stack, StackInfo, StackSettings
from control_plane.launcher.readiness import redis_ping, wait_until
from control_plane.model import Limits
from tests.support.envoy_probe import EnvoyProbe
from tests.support.load import Load
from tests.support.stacks import running_stack
from tests.support.tenants import TenantFactory

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0
EXT_PROC_CLUSTER = "tollway_ext_proc"


@pytest.fixture(scope="module")
def outage_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = StackSettings(
        state_dir=tmp_path_factory.mktemp("outage-state"),
        listener_port=0,
        admin_port=0,
        ext_proc_workers=2,
        demo=True,
        log_level="info",
        ext_proc_options={"spool_replay_interval_s": "0.5"},
    )
    with running_stack(settings) as stack:
        yield stack


def _chat(url: str, headers: dict[str, str]) -> httpx.Response:
    body = {"model": "demo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
    return httpx.post(f"{url}/chat/completions", json=body, headers=headers, timeout=10)


class _Probe:
    """Retries a chat request until it succeeds, counting every attempt (each one is billed)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers, self.attempts = url, headers, 0

    def seconds_until_ok(self, limit_s: float = 20.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < limit_s:
            self.attempts += 1
            if _chat(self.url, self.headers).status_code == 200:
                return time.monotonic() - start
            time.sleep(0.1)
        return float("inf")


def _spool_report(stack: Stack, state_dir: Path) -> str:
    """What each ext_proc did with its spool (shown when records are missing)."""
    files = sorted(str(p.relative_to(state_dir)) for p in Path(state_dir, "spool").rglob("*") if p.is_file())
    lines = [f"spool files: {files}"]
    for name, process in stack.processes.items():
        if name.startswith("ext_proc"):
            tail = process.log_tail(400).splitlines()
            lines += [f"{name}: {line}" for line in tail if "spool" in line or "ledger" in line][-15:]
    return "\n".join(lines)


def test_redis_outage_matches_the_failure_table_and_loses_no_ledger_record(outage_stack: Stack) -> None:
    info: StackInfo | None = outage_stack.info
    assert info is not None
    admin = AdminClient(info.admin_url, info.admin_token)
    tenant = TenantFactory(admin).create(Limits(requests_per_minute=100_000, tokens_per_minute=10_000_000))
    admin.close()
    store = redis.Redis.from_url(info.redis_url)
    url = info.listener_url
    # Warm every ext_proc's key cache: only a key a replica has seen is served during the outage (a
    # key it never saw gets 503 auth_unavailable, with no ledger record). Envoy picks the replica, so
    # send until each one has answered at least two requests.
    probe_envoy = EnvoyProbe(info.envoy_admin_url)
    start = probe_envoy.requests_per_host(EXT_PROC_CLUSTER)
    assert len(start) == 2, start
    warmups = 0
    while (
        warmups < 6
        or min(n - start[host] for host, n in probe_envoy.requests_per_host(EXT_PROC_CLUSTER).items()) < 2
    ):
        assert warmups < 60, "Envoy sent every warm-up request to one ext_proc"
        assert _chat(url, tenant.headers).status_code == 200
        warmups += 1
    extra_requests = warmups

    # A stream that starts before the outage and ends during it must still be billed.
    stream_result: dict[str, object] = {}

    def long_stream() -> None:
        client = openai.OpenAI(base_url=url, api_key=tenant.secret, max_retries=0, timeout=60)
        stream = client.chat.completions.create(
            model="demo",
            messages=[{"role": "user", "content": "long"}],
            stream=True,
            max_tokens=40,
            extra_headers={"x-mock-tokens": "40", "x-mock-inter-token-delay-ms": "100"},
        )
        stream_result["chunks"] = sum(
            1 for chunk in stream if chunk.choices and chunk.choices[0].delta.content
        )

    streamer = threading.Thread(target=long_stream)
    valkey = outage_stack.processes["valkey"]
    with Load(url, "demo", rate=10.0, threads=2, headers=tenant.headers) as load:
        streamer.start()
        time.sleep(1.0)
        valkey.stop()
        time.sleep(1.0)
        during = _chat(url, tenant.headers)
        unknown = _chat(url, {"Authorization": "Bearer tw-unknown-key-during-outage"})
        listing = httpx.get(f"{url}/models", headers=tenant.headers, timeout=10)
        extra_requests += 1
        time.sleep(OUTAGE_S - 2.0)
        valkey.start()
        assert wait_until(lambda: redis_ping(info.redis_url), timeout_s=20)
        probe = _Probe(url, tenant.headers)
        recovered_in = probe.seconds_until_ok()
        extra_requests += probe.attempts
        time.sleep(1.0)
    streamer.join(timeout=30)

    # Quota fails closed with a JSON 503; auth serves the known key from cache and refuses unknown ones.
    assert during.status_code == 503
    assert during.json()["error"]["code"] == "quota_unavailable"
    assert during.headers["x-request-id"]
    assert unknown.status_code == 503
    assert unknown.json()["error"]["code"] == "auth_unavailable"
    assert listing.status_code == 200
    assert recovered_in < 5.0
    assert stream_result.get("chunks") == 40  # the stream in flight was not disturbed
    assert set(load.statuses) <= {200, 503}, Counter(load.statuses)
    assert load.statuses.count(503) > 100
    assert load.failures == []

    # Every request made with the valid key has exactly one ledger record, none lost in the outage.
    expected = len(load.statuses) + extra_requests + 1  # +1: the long stream
    deadline = time.monotonic() + 20
    while store.xlen(tenant_ledger(tenant.id)) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    assert store.xlen(tenant_ledger(tenant.id)) == expected, _spool_report(outage_stack, Path(info.state_dir))
    spool_files = [p for p in Path(info.state_dir, "spool").rglob("*") if p.is_file() and p.stat().st_size]
    assert spool_files == [], spool_files  # everything replayed
    store.close()

"""The cache's Redis down: requests are still served (a miss, bounded extra latency), and caching comes
back by itself when Redis does. The cache has its own Valkey here (`cache_redis_url`), as a deployment
that keeps cache entries away from quota and billing state would; governance stays up."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest

from control_plane.admin_client import AdminClient
from control_plane.launcher import StackInfo, StackSettings
from control_plane.model import CachePolicy, Limits
from tests.support.stacks import running_stack
from tests.support.tenants import TenantFactory
from tests.support.valkey import ValkeyServer


@pytest.fixture(scope="module")
def cache_valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyServer]:
    server = ValkeyServer(tmp_path_factory.mktemp("cache-valkey"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cache_stack(tmp_path_factory: pytest.TempPathFactory, cache_valkey: ValkeyServer) -> Iterator[StackInfo]:
    settings = StackSettings(
        state_dir=tmp_path_factory.mktemp("cache-outage-state"),
        listener_port=0,
        admin_port=0,
        ext_proc_workers=1,
        demo=True,
        log_level="info",
        cache_redis_url=cache_valkey.url,
    )
    with running_stack(settings) as stack:
        yield stack.info


def _ask(client: openai.OpenAI, model: str, text: str) -> tuple[str, float]:
    started = time.monotonic()
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}]
    )
    assert raw.status_code == 200
    return raw.headers["x-tollway-cache"], time.monotonic() - started


def _until_hit(client: openai.OpenAI, model: str, text: str) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if _ask(client, model, text)[0] == "hit":
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never became a hit")


def test_cache_redis_down_still_serves_every_request_as_a_miss_and_recovers(
    cache_stack: StackInfo, cache_valkey: ValkeyServer
) -> None:
    admin = AdminClient(cache_stack.admin_url, cache_stack.admin_token)
    try:
        tenant = TenantFactory(admin).create(Limits(), cache=CachePolicy(enabled=True))
    finally:
        admin.close()
    client = openai.OpenAI(
        base_url=cache_stack.listener_url, api_key=tenant.secret, max_retries=0, timeout=10
    )
    model = cache_stack.demo_model
    _until_hit(client, model, "What is the tallest mountain on Earth?")

    cache_valkey.stop()
    try:
        outcomes = [_ask(client, model, text) for text in ["What is the tallest mountain on Earth?"] * 5]
        outcomes += [_ask(client, model, f"Name a river in country number {n}") for n in range(5)]
        assert {status for status, _ in outcomes} == {"miss"}
        assert max(seconds for _, seconds in outcomes) < 1.5  # the cache's Redis timeout bounds the cost
    finally:
        cache_valkey.start()  # same port, empty: nothing was persisted

    deadline = time.monotonic() + 10
    while _ask(client, model, "What is the deepest lake?")[0] != "hit":  # reconnects by itself
        assert time.monotonic() < deadline, "caching did not come back after Redis did"
        time.sleep(0.2)

    # A purge through the admin API reaches the cache's own Redis (not the governance one).
    admin = AdminClient(cache_stack.admin_url, cache_stack.admin_token)
    try:
        assert admin.purge_tenant_cache(tenant.id)["generation"] >= 1
    finally:
        admin.close()
    assert _ask(client, model, "What is the deepest lake?")[0] == "miss"
    _until_hit(client, model, "What is the deepest lake?")

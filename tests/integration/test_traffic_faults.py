"""Fault injection against the real Envoy, configured over xDS from each model's traffic policy.

Every test registers its own model on its own mock upstreams (so Envoy's per-cluster counters and
outlier state are its own), sends its traffic through the first Envoy and reads that Envoy's admin API.
The numbers asserted are the ones the issue names: retries seen, wait times, ejections, failover time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from control_plane.admin_client import AdminClient
from control_plane.launcher import StackInfo
from control_plane.model import (
    Backend,
    HealthCheck,
    LbPolicy,
    LoadBalancing,
    Model,
    OutlierDetection,
    RetryPolicy,
    Timeouts,
    TrafficPolicy,
)
from tests.support.chat import chat_body
from tests.support.envoy_probe import EnvoyProbe
from tests.support.mock_fleet import MockFleet

pytestmark = pytest.mark.integration

MOCK_BACKEND = "x-mock-backend"


def _register(
    admin: AdminClient,
    gateway: httpx.Client,
    fleet: MockFleet,
    backends: dict[str, int],
    traffic: TrafficPolicy,
) -> Model:
    """A new model on the named mocks (name → priority), once Envoy routes it."""
    name = f"fault-{uuid.uuid4().hex[:8]}"
    model = Model(
        name=name,
        backends=tuple(
            Backend(name=backend, base_url=fleet.url(backend), priority=priority)
            for backend, priority in backends.items()
        ),
        traffic=traffic,
    )
    admin.put_model(model)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if gateway.post("/chat/completions", json=chat_body(name)).status_code == 200:
            for backend in backends:
                fleet.reset(backend)
            return model
        time.sleep(0.05)
    raise AssertionError(f"model {name} never became routable")


def _served_by(fleet: MockFleet, name: str) -> int:
    return sum(1 for a in fleet.stats(name)["arrivals"] if a["status"] == 200)


def _arrivals(fleet: MockFleet, name: str) -> list[dict[str, Any]]:
    return list(fleet.stats(name)["arrivals"])


def test_503_storm_on_one_backend_moves_traffic_and_ejects_the_sick_host(
    admin: AdminClient, gateway: httpx.Client, fleet: MockFleet, probe: EnvoyProbe
) -> None:
    fleet.start("storm-sick", "storm-well")
    traffic = TrafficPolicy(
        load_balancing=LoadBalancing(policy=LbPolicy.ROUND_ROBIN),
        outlier_detection=OutlierDetection(consecutive_5xx=3, base_ejection_s=60.0),
    )
    model = _register(admin, gateway, fleet, {"storm-sick": 0, "storm-well": 0}, traffic).name
    cluster = f"model.{model}"
    retries_before = probe.counter(cluster, "upstream_rq_retry")
    fleet.set_behaviour("storm-sick", fail_status=503)

    statuses = Counter(
        gateway.post("/chat/completions", json=chat_body(model)).status_code for _ in range(40)
    )

    assert statuses == Counter({200: 40})  # every 503 was retried on the healthy host
    sick = _arrivals(fleet, "storm-sick")
    assert 3 <= len(sick) <= 4, sick  # three 503s in a row eject it (a 4th may race the ejection)
    assert all(a["status"] == 503 for a in sick)
    assert _served_by(fleet, "storm-well") == 40
    assert probe.counter(cluster, "outlier_detection.ejections_enforced_consecutive_5xx") == 1
    assert probe.counter(cluster, "upstream_rq_retry") - retries_before == len(sick)
    ejected = probe.host(cluster, fleet.port("storm-sick"))
    assert ejected is not None
    assert "failed_outlier_check" in ejected.health_flags
    healthy = probe.host(cluster, fleet.port("storm-well"))
    assert healthy is not None
    assert healthy.healthy


def test_429_with_retry_after_2_waits_at_least_1_8_s_before_the_retry(
    admin: AdminClient, gateway: httpx.Client, fleet: MockFleet, probe: EnvoyProbe
) -> None:
    fleet.start("ra-only")
    model = _register(admin, gateway, fleet, {"ra-only": 0}, TrafficPolicy()).name
    cluster = f"model.{model}"
    ratelimited_before = probe.counter(cluster, "upstream_rq_retry_backoff_ratelimited")
    headers = {
        "x-mock-status": "429",
        "x-mock-retry-after": "2",
        "x-mock-fail-times": "1",
        "x-mock-fail-key": uuid.uuid4().hex,
    }

    started = time.monotonic()
    response = gateway.post("/chat/completions", json=chat_body(model), headers=headers)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    tries = [a for a in _arrivals(fleet, "ra-only") if a["request_id"] == request_id]
    assert [t["status"] for t in tries] == [429, 200]
    wait = tries[1]["time"] - tries[0]["time"]
    assert 1.8 <= wait < 3.5, wait  # Envoy waits Retry-After plus up to 50% jitter
    assert elapsed >= 1.8
    assert probe.counter(cluster, "upstream_rq_retry_backoff_ratelimited") - ratelimited_before == 1


def test_retry_after_beyond_the_cap_is_not_waited_for(
    admin: AdminClient, gateway: httpx.Client, fleet: MockFleet
) -> None:
    fleet.start("ra-long")
    traffic = TrafficPolicy(retry=RetryPolicy(retry_after_max_s=5.0))
    model = _register(admin, gateway, fleet, {"ra-long": 0}, traffic).name
    headers = {
        "x-mock-status": "429",
        "x-mock-retry-after": "60",
        "x-mock-fail-times": "1",
        "x-mock-fail-key": uuid.uuid4().hex,
    }
    started = time.monotonic()
    response = gateway.post("/chat/completions", json=chat_body(model), headers=headers)
    assert response.status_code == 200
    assert time.monotonic() - started < 2.0  # the normal backoff (100 ms .. 1 s), not 60 s


def test_primary_down_falls_back_to_the_next_priority_and_returns_after_recovery(
    admin: AdminClient, gateway: httpx.Client, fleet: MockFleet, probe: EnvoyProbe
) -> None:
    fleet.start("primary", "fallback")
    traffic = TrafficPolicy(
        outlier_detection=OutlierDetection(consecutive_5xx=2, base_ejection_s=2.0, interval_s=0.5),
        health_check=HealthCheck(interval_s=0.5, timeout_s=0.5, unhealthy_threshold=1, healthy_threshold=1),
    )
    model = _register(admin, gateway, fleet, {"primary": 0, "fallback": 1}, traffic).name
    assert _served_by(fleet, "fallback") == 0

    fleet.stop("primary")
    latencies = []
    statuses: Counter[int] = Counter()
    for _ in range(20):
        started = time.monotonic()
        statuses[gateway.post("/chat/completions", json=chat_body(model)).status_code] += 1
        latencies.append(time.monotonic() - started)
    assert statuses == Counter({200: 20})  # the very first request after the crash is served too
    assert max(latencies) < 1.0, latencies  # failover is a fast retry, not a timeout
    assert _served_by(fleet, "fallback") == 20
    assert probe.counter(f"model.{model}", "upstream_cx_connect_fail") >= 1

    fleet.start("primary")
    recovered_at = time.monotonic()
    back_after = None
    while time.monotonic() - recovered_at < 15:
        assert gateway.post("/chat/completions", json=chat_body(model)).status_code == 200
        if _served_by(fleet, "primary") > 0:
            back_after = time.monotonic() - recovered_at
            break
        time.sleep(0.1)
    assert back_after is not None, "traffic never returned to the primary"
    assert back_after < 6.0  # health check every 0.5 s; ejection 2 s
    primary_port = fleet.port("primary")
    _wait_for_hosts(
        probe,
        f"model.{model}",
        lambda _: (host := probe.host(f"model.{model}", primary_port)) is not None and host.healthy,
    )
    time.sleep(0.2)  # the main thread's host health reaches the workers
    fleet.reset("fallback")
    for _ in range(10):
        assert gateway.post("/chat/completions", json=chat_body(model)).status_code == 200
    assert _served_by(fleet, "fallback") == 0  # the fallback is idle again


def test_slow_first_byte_fails_over_within_the_configured_budget(
    admin: AdminClient, gateway: httpx.Client, fleet: MockFleet, probe: EnvoyProbe
) -> None:
    fleet.start("slow", "quick")
    traffic = TrafficPolicy(
        load_balancing=LoadBalancing(policy=LbPolicy.ROUND_ROBIN),
        timeouts=Timeouts(first_byte_s=1.0),
        outlier_detection=OutlierDetection(enabled=False),
    )
    model = _register(admin, gateway, fleet, {"slow": 0, "quick": 0}, traffic).name
    cluster = f"model.{model}"
    timeouts_before = probe.counter(cluster, "upstream_rq_per_try_timeout")
    # The slow server commits to a response only with its first token, 5 s after the request.
    fleet.set_behaviour("slow", first_token_delay_ms=5000, hold_headers=True)

    latencies = []
    for _ in range(6):
        started = time.monotonic()
        with gateway.stream("POST", "/chat/completions", json=chat_body(model, stream=True)) as response:
            body = response.read()
            assert response.status_code == 200
            assert response.headers[MOCK_BACKEND] == "quick"
        assert body.rstrip().endswith(b"data: [DONE]")
        latencies.append(time.monotonic() - started)

    slow_tries = len(_arrivals(fleet, "slow"))
    assert slow_tries >= 2  # round robin sent some first tries to the slow server
    assert probe.counter(cluster, "upstream_rq_per_try_timeout") - timeouts_before == slow_tries
    assert max(latencies) < 1.0 + 1.0, latencies  # budget (1 s) plus the fast server's answer
    assert sorted(latencies)[-slow_tries] >= 0.9  # those that hit the slow server waited the budget


def _wait_for_hosts(probe: EnvoyProbe, cluster: str, done: Callable[[set[int]], bool]) -> None:
    deadline = time.monotonic() + 15
    while not done({h.port for h in probe.hosts(cluster)}):
        assert time.monotonic() < deadline, f"Envoy's hosts of {cluster} never changed as expected"
        time.sleep(0.05)


def test_backend_added_and_removed_under_load_costs_no_request(
    admin: AdminClient,
    gateway: httpx.Client,
    fleet: MockFleet,
    info: StackInfo,
    auth: dict[str, str],
    probe: EnvoyProbe,
) -> None:
    fleet.start("pool-a", "pool-b", "pool-c", "other")
    pool = _register(admin, gateway, fleet, {"pool-a": 0, "pool-b": 0}, TrafficPolicy())
    model, bystander = pool.name, _register(admin, gateway, fleet, {"other": 0}, TrafficPolicy()).name
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def load(target: str, stream: bool) -> None:
        with httpx.Client(base_url=info.listener_urls[0], headers=auth, timeout=30.0) as client:
            while not stop.is_set():
                try:
                    if stream:
                        with client.stream(
                            "POST", "/chat/completions", json=chat_body(target, stream=True)
                        ) as r:
                            complete = r.status_code == 200 and r.read().rstrip().endswith(b"[DONE]")
                    else:
                        complete = client.post("/chat/completions", json=chat_body(target)).status_code == 200
                    key = f"{target}:{'ok' if complete else 'error'}"
                except httpx.HTTPError as exc:
                    key = f"{target}:{type(exc).__name__}"
                with lock:
                    outcomes[key] += 1

    workers = [
        threading.Thread(target=load, args=(model, stream), daemon=True) for stream in (False, True, False)
    ]
    workers.append(threading.Thread(target=load, args=(bystander, True), daemon=True))
    for worker in workers:
        worker.start()
    time.sleep(1.5)
    extra = Backend(name="pool-c", base_url=fleet.url("pool-c"))
    added = pool.model_copy(update={"backends": (*pool.backends, extra)})
    admin.put_model(added)
    _wait_for_hosts(probe, f"model.{model}", lambda ports: fleet.port("pool-c") in ports)
    time.sleep(1.0)  # the new host takes traffic
    removed = added.model_copy(update={"backends": tuple(b for b in added.backends if b.name != "pool-a")})
    admin.put_model(removed)
    _wait_for_hosts(probe, f"model.{model}", lambda ports: fleet.port("pool-a") not in ports)
    time.sleep(0.5)  # requests picked before the removal finish on pool-a
    fleet.reset("pool-a")
    time.sleep(1.5)
    stop.set()
    for worker in workers:
        worker.join(timeout=30)

    errors = {k: v for k, v in outcomes.items() if not k.endswith(":ok")}
    assert errors == {}, outcomes
    assert outcomes[f"{model}:ok"] >= 100
    assert outcomes[f"{bystander}:ok"] >= 20
    assert _served_by(fleet, "pool-c") > 0  # the added backend took traffic
    assert _arrivals(fleet, "pool-a") == []  # the removed one gets nothing once Envoy dropped it


def test_ring_hash_keeps_a_session_on_one_backend(
    admin: AdminClient, gateway: httpx.Client, fleet: MockFleet
) -> None:
    fleet.start("ring-a", "ring-b", "ring-c")
    traffic = TrafficPolicy(
        load_balancing=LoadBalancing(policy=LbPolicy.RING_HASH, hash_header="x-session-id")
    )
    model = _register(admin, gateway, fleet, {"ring-a": 0, "ring-b": 0, "ring-c": 0}, traffic).name

    placement: dict[str, set[str]] = {}
    for session in range(12):
        for _ in range(5):
            response = gateway.post(
                "/chat/completions", json=chat_body(model), headers={"x-session-id": f"session-{session}"}
            )
            assert response.status_code == 200
            placement.setdefault(f"session-{session}", set()).add(response.headers[MOCK_BACKEND])

    assert all(len(backends) == 1 for backends in placement.values()), placement  # sticky
    assert len(set().union(*placement.values())) >= 2  # and still spread across the pool

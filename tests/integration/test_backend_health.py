"""Backend health as every Envoy sees it: admin API `/admin/v1/status/backends` and `tollway status`.

A model with two mock backends; one is killed; its host must show errors and then be marked unhealthy
(active health check and/or outlier ejection) on every Envoy, in the API and in `tollway status --json`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from control_plane.admin_client import AdminClient
from control_plane.launcher import StackInfo
from control_plane.launcher.process import ManagedProcess
from control_plane.launcher.readiness import free_port, http_ok, wait_until
from control_plane.model import Backend, HealthCheck, Model, OutlierDetection, TrafficPolicy

pytestmark = pytest.mark.integration

TOLLWAY = str(Path(sys.executable).parent / "tollway")
MODEL = "health-pair"


@pytest.fixture
def upstreams(tmp_path: Path) -> Iterator[dict[str, tuple[ManagedProcess, int]]]:
    """Two mock upstreams this test may kill: name → (process, port)."""
    started: dict[str, tuple[ManagedProcess, int]] = {}
    for name in ("hp-a", "hp-b"):
        port = free_port()
        argv = [sys.executable, "-m", "control_plane.demo.mock_upstream", "--host", "127.0.0.1",
                "--port", str(port), "--name", name]  # fmt: skip
        process = ManagedProcess(name, argv, log_path=tmp_path / f"{name}.log")
        process.start()
        started[name] = (process, port)
        health_url = f"http://127.0.0.1:{port}/health"
        ready = wait_until(partial(http_ok, health_url), timeout_s=20, alive=process.is_running)
        assert ready, process.log_tail()
    yield started
    for process, _ in started.values():
        process.stop()


def _hosts(health: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """node id → backend name → host, for MODEL on every reachable node."""
    return {
        node["node_id"]: {
            h["backend"]: h for c in node["clusters"] if c["model"] == MODEL for h in c["hosts"]
        }
        for node in health["nodes"]
        if node["reachable"]
    }


def _chat(listener_url: str, auth: dict[str, str]) -> int:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    try:
        return httpx.post(
            f"{listener_url}/chat/completions", json=body, headers=auth, timeout=5.0
        ).status_code
    except httpx.HTTPError:
        return 0


def _node_id(listener_url: str) -> str:
    return f"envoy-{urlsplit(listener_url).port}"  # the launcher's naming


def test_backend_health_on_every_envoy_after_a_backend_dies(
    info: StackInfo,
    admin: AdminClient,
    auth: dict[str, str],
    upstreams: dict[str, tuple[ManagedProcess, int]],
) -> None:
    (proc_a, port_a), (proc_b, port_b) = upstreams["hp-a"], upstreams["hp-b"]
    traffic = TrafficPolicy(
        # Slow enough that requests reach the dead backend (and count errors) before a check marks it.
        health_check=HealthCheck(interval_s=2.0, timeout_s=1.0, unhealthy_threshold=3),
        outlier_detection=OutlierDetection(consecutive_5xx=3, interval_s=1.0),
    )
    admin.put_model(
        Model(
            name=MODEL,
            backends=(
                Backend(name="a", base_url=f"http://127.0.0.1:{port_a}/v1", weight=3),
                Backend(name="b", base_url=f"http://localhost:{port_b}/v1"),
            ),
            traffic=traffic,
        )
    )
    nodes = {_node_id(url): url for url in info.listener_urls}
    try:
        # Before: both hosts listed, healthy (after their first active check), on every Envoy.
        def all_healthy() -> bool:
            hosts = _hosts(admin.backend_health())
            return all(
                set(hosts.get(n, {})) == {"a", "b"}
                and all(h["state"] == "healthy" for h in hosts[n].values())
                for n in nodes
            )

        assert wait_until(all_healthy, timeout_s=20), admin.backend_health()
        for url in info.listener_urls:
            assert _chat(url, auth) == 200
        health = admin.backend_health()
        by_node = {n["node_id"]: n for n in health["nodes"]}
        assert set(nodes) <= set(by_node)
        assert {by_node[n]["admin_url"] for n in nodes} == set(info.envoy_admin_urls)
        for node_id in nodes:
            a, b = _hosts(health)[node_id]["a"], _hosts(health)[node_id]["b"]
            assert (a["address"], a["hostname"], a["priority"], a["weight"]) == (
                f"127.0.0.1:{port_a}",
                "127.0.0.1",
                0,
                3,
            )
            assert (b["address"], b["hostname"], b["priority"], b["weight"]) == (
                f"127.0.0.1:{port_b}",
                "localhost",
                0,
                1,
            )
            assert (a["flags"], b["flags"]) == ([], [])

        # Kill b; keep sending until every Envoy has tried it (connect failures), while a serves.
        proc_b.stop()

        def errors_counted() -> bool:
            for url in info.listener_urls:
                assert _chat(url, auth) == 200  # retries and a keep clients whole
            hosts = _hosts(admin.backend_health())
            return all(hosts[n]["b"]["cx_connect_fail"] > 0 and hosts[n]["b"]["rq_error"] > 0 for n in nodes)

        assert wait_until(errors_counted, timeout_s=15), admin.backend_health()

        # Tighter: every Envoy stops sending to b (active health check or outlier detection).
        def b_unhealthy() -> bool:
            hosts = _hosts(admin.backend_health())
            return all(hosts[n]["b"]["state"] == "unhealthy" for n in nodes)

        assert wait_until(b_unhealthy, timeout_s=20), admin.backend_health()
        health = admin.backend_health()
        for node_id in nodes:
            a, b = _hosts(health)[node_id]["a"], _hosts(health)[node_id]["b"]
            assert a["state"] == "healthy"
            assert {"failed_active_health_check", "failed_outlier_check"} & set(b["flags"])
            assert a["rq_success"] > 0

        # The CLI shows the same, as JSON.
        out = subprocess.run(
            [TOLLWAY, "status", "--json", "--admin-url", info.admin_url, "--token", info.admin_token],
            capture_output=True, text=True, timeout=30, check=True, stdin=subprocess.DEVNULL,
        ).stdout  # fmt: skip
        status = json.loads(out)
        cli_hosts = _hosts({"nodes": status["backend_health"]})
        for node_id in nodes:
            assert cli_hosts[node_id]["b"]["state"] == "unhealthy"
            assert cli_hosts[node_id]["b"]["address"] == f"127.0.0.1:{port_b}"
            assert cli_hosts[node_id]["a"]["state"] == "healthy"
        assert {n["node_id"] for n in status["envoy_nodes"]} >= set(nodes)
    finally:
        admin.remove_model(MODEL)
        assert proc_a.is_running()


def test_every_envoy_reports_the_demo_backend(info: StackInfo, admin: AdminClient) -> None:
    """Each Envoy advertises its admin URL over xDS; the admin API reads every one of them."""
    health = admin.backend_health()
    reachable = {n["admin_url"] for n in health["nodes"] if n["reachable"]}
    assert set(info.envoy_admin_urls) <= reachable
    demo = [c for n in health["nodes"] for c in n["clusters"] if c["model"] == info.demo_model]
    assert len(demo) >= len(info.envoy_admin_urls)
    assert all(h["backend"] == "mock" for c in demo for h in c["hosts"])

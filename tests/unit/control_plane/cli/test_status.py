"""`tollway status`: xds ACK/NACK table plus backend health, against the real admin app over fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from control_plane.cli import connection, main
from control_plane.envoy_admin import EnvoyAdminClient
from control_plane.model import Backend, Model, NodeStatus, ResourceStatus
from tests.support.fakes import ADMIN_TOKEN, AdminHarness, FakeClock

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DATA = Path(__file__).parents[1] / "data"
MOCK_PORT = 43943  # where the recorded stack's mock upstream listened


def envoy(request: httpx.Request) -> httpx.Response:
    if request.url.host == "down":
        raise httpx.ConnectError("connection refused", request=request)
    name = {"/clusters": "envoy_clusters_ejected.json", "/stats": "envoy_stats_ejected.json"}[
        request.url.path
    ]
    return httpx.Response(200, json=json.loads((DATA / name).read_text()))


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> AdminHarness:
    harness = AdminHarness(clock=FakeClock(NOW))
    harness.app.state.backend_health = EnvoyAdminClient(transport=httpx.MockTransport(envoy))
    cds = {"cds": ResourceStatus(sent_version="v1", acked_version="v1")}
    harness.xds_status.nodes = [
        NodeStatus(
            node_id=node_id, connected=True, connected_at=NOW, updated_at=NOW, admin_url=url, resources=cds
        )
        for node_id, url in (("envoy-1", "http://up:9901"), ("envoy-2", "http://down:9901"))
    ]
    monkeypatch.setattr(connection, "AdminClient", lambda _url, _token: harness.admin_client())
    monkeypatch.setenv("TOLLWAY_ADMIN_TOKEN", ADMIN_TOKEN)
    harness.admin_client().put_model(
        Model(
            name="pair",
            backends=(
                Backend(name="alive", base_url=f"http://127.0.0.1:{MOCK_PORT}/v1"),
                Backend(name="dead", base_url="http://127.0.0.1:1/v1"),
                Backend(name="spare", base_url="http://localhost:2/v1", priority=1, weight=5),
            ),
        )
    )
    return harness


def run(*args: str) -> str:
    result = CliRunner().invoke(main.app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_status_prints_a_health_row_per_node_model_and_backend(harness: AdminHarness) -> None:
    out = run("status")
    lines = {" ".join(line.split()) for line in out.splitlines()}  # columns, whatever their widths
    assert "envoy-1 yes cds v1 -" in lines
    assert "NODE MODEL BACKEND ADDRESS PRIO WEIGHT STATE FLAGS ACTIVE REQS ERRORS CONN FAIL" in lines
    assert f"envoy-1 pair alive 127.0.0.1:{MOCK_PORT} 0 1 healthy - 0 12 0 0" in lines
    assert "envoy-1 pair dead 127.0.0.1:1 0 1 unhealthy failed_outlier_check 0 0 6 6" in lines
    assert "envoy-1 pair spare 127.0.0.1:2 1 5 unhealthy failed_outlier_check 0 0 6 6" in lines
    assert f"envoy-1 demo ? 127.0.0.1:{MOCK_PORT} 0 1 healthy - 0 1 0 0" in lines  # not in this registry
    assert "NODE MODEL 5XX RETRIES EJECTED NOW EJECTIONS" in lines
    assert "envoy-1 pair 0 12 2 4" in lines
    assert "envoy-2: admin API unreachable at http://down:9901: connection refused or unreachable" in lines


def test_status_json_carries_backend_health(harness: AdminHarness) -> None:
    result = orjson.loads(run("status", "--json"))
    assert result["registry_version"] == 1
    assert [n["node_id"] for n in result["envoy_nodes"]] == ["envoy-1", "envoy-2"]
    up, down = result["backend_health"]
    assert (up["node_id"], up["reachable"], down["reachable"]) == ("envoy-1", True, False)
    pair = next(c for c in up["clusters"] if c["model"] == "pair")
    assert [(h["backend"], h["state"]) for h in pair["hosts"]] == [
        ("alive", "healthy"), ("dead", "unhealthy"), ("spare", "unhealthy")
    ]  # fmt: skip


def test_status_without_backends_does_not_ask_envoy(harness: AdminHarness) -> None:
    harness.app.state.backend_health = None  # would fail if asked
    assert "backend_health" not in orjson.loads(run("status", "--json", "--no-backends"))
    assert "BACKEND" not in run("status", "--no-backends")

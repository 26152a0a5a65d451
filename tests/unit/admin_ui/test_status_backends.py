"""GET /admin/v1/status/backends: backend health from every connected Envoy node's admin API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from admin_ui.app import create_app
from control_plane.envoy_admin import EnvoyAdminClient
from control_plane.keystore import KeyStore
from control_plane.model import Backend, Model, NodeStatus
from control_plane.registry import Registry
from tests.support.fakes import MemoryKeyRecords, MemoryRegistryStore, MemoryUsageReader, MemoryXdsStatusStore

TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2026, 11, 21, tzinfo=UTC)
DATA = Path(__file__).parents[1] / "control_plane" / "data"
MOCK_PORT = 43943  # where the recorded stack's mock upstream listened


def envoy(request: httpx.Request) -> httpx.Response:
    """Two fake Envoy admin APIs: `envoy-a` answers with a recorded dump, `envoy-b` refuses."""
    if request.url.host == "envoy-b":
        raise httpx.ConnectError("connection refused", request=request)
    name = {"/clusters": "envoy_clusters_ejected.json", "/stats": "envoy_stats_ejected.json"}[
        request.url.path
    ]
    return httpx.Response(200, json=json.loads((DATA / name).read_text()))


def node(node_id: str, admin_url: str, *, connected: bool = True) -> NodeStatus:
    return NodeStatus(
        node_id=node_id, connected=connected, connected_at=NOW, updated_at=NOW, admin_url=admin_url
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    registry = Registry(MemoryRegistryStore())
    await registry.put_model(
        Model(
            name="pair",
            backends=(
                Backend(name="alive", base_url=f"http://127.0.0.1:{MOCK_PORT}/v1"),
                Backend(name="dead", base_url="http://127.0.0.1:1/v1"),
                Backend(name="spare", base_url="http://localhost:2/v1", priority=1, weight=5),
            ),
        )
    )
    nodes = [
        node("envoy-a", "http://envoy-a:9901"),
        node("envoy-b", "http://envoy-b:9901"),
        node("envoy-old", "http://envoy-a:9901", connected=False),
    ]
    app = create_app(
        registry_port=registry,
        xds_status=MemoryXdsStatusStore(nodes),
        keys_port=KeyStore(MemoryKeyRecords(), registry),
        usage_port=MemoryUsageReader(),
        admin_token=TOKEN,
        backend_health=EnvoyAdminClient(timeout_s=1.0, transport=httpx.MockTransport(envoy)),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as c:
        yield c


async def test_backend_health_per_node(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/v1/status/backends", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["registry_version"] == 1
    assert [n["node_id"] for n in body["nodes"]] == ["envoy-a", "envoy-b"]  # connected nodes only
    a, b = body["nodes"]
    assert (b["reachable"], b["error"], b["clusters"]) == (False, "connection refused or unreachable", [])
    assert a["reachable"] is True
    clusters = {c["model"]: c for c in a["clusters"]}
    pair = clusters["pair"]
    assert [(h["backend"], h["address"], h["priority"], h["weight"], h["state"]) for h in pair["hosts"]] == [
        ("alive", f"127.0.0.1:{MOCK_PORT}", 0, 1, "healthy"),
        ("dead", "127.0.0.1:1", 0, 1, "unhealthy"),
        ("spare", "127.0.0.1:2", 1, 5, "unhealthy"),
    ]
    assert pair["hosts"][1]["flags"] == ["failed_outlier_check"]
    assert (pair["upstream_rq_retry"], pair["ejections_active"]) == (12, 2)
    assert clusters["demo"]["hosts"][0]["backend"] == ""  # the registry here has no model `demo`


async def test_backend_health_needs_the_admin_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/v1/status/backends")).status_code == 401


async def test_backend_health_is_in_the_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/admin/v1/status/backends" in schema["paths"]
    assert "NodeHealth" in schema["components"]["schemas"]

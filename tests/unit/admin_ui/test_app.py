from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from admin_ui.app import create_app
from control_plane.keystore import KeyStore
from control_plane.model import Nack, NodeStatus, ResourceStatus
from control_plane.registry import Registry
from tests.support.fakes import (
    MemoryKeyRecords,
    MemoryRegistryStore,
    MemoryUsageReader,
    MemoryXdsStatusStore,
)

TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MODEL = {
    "name": "llama",
    "aliases": ["l3"],
    "backends": [{"name": "gpu", "base_url": "http://10.0.0.1:8000/v1"}],
}


@pytest.fixture
def store() -> MemoryRegistryStore:
    return MemoryRegistryStore()


@pytest.fixture
async def client(store: MemoryRegistryStore) -> AsyncIterator[httpx.AsyncClient]:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    node = NodeStatus(
        node_id="envoy-1",
        connected=True,
        connected_at=now,
        updated_at=now,
        resources={"cds": ResourceStatus(sent_version="v2", acked_version="v1", last_nack=Nack(
            version="v2", message="bad cluster", at=now))},
    )  # fmt: skip
    registry = Registry(store)
    app = create_app(
        registry_port=registry,
        xds_status=MemoryXdsStatusStore([node]),
        keys_port=KeyStore(MemoryKeyRecords(), registry),
        usage_port=MemoryUsageReader(),
        admin_token=TOKEN,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as c:
        yield c


async def test_requests_without_the_token_are_refused(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await client.get("/admin/v1/models", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_admin_token"
    assert (await client.get("/healthz")).status_code == 200


async def test_model_crud(client: httpx.AsyncClient, store: MemoryRegistryStore) -> None:
    put = await client.put("/admin/v1/models/llama", json=MODEL, headers=AUTH)
    assert put.json() == {"version": 1, "changed": True}
    assert (await client.put("/admin/v1/models/llama", json=MODEL, headers=AUTH)).json()["changed"] is False
    listed = (await client.get("/admin/v1/models", headers=AUTH)).json()
    assert listed["version"] == 1
    assert [m["name"] for m in listed["models"]] == ["llama"]
    assert (await client.get("/admin/v1/models/llama", headers=AUTH)).json()["aliases"] == ["l3"]
    deleted = await client.delete("/admin/v1/models/llama", headers=AUTH)
    assert deleted.json() == {"version": 2, "changed": True}
    missing = await client.delete("/admin/v1/models/llama", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert store.snapshot.version == 2


async def test_model_names_with_slashes(client: httpx.AsyncClient) -> None:
    body = {**MODEL, "name": "meta-llama/Llama-3-8B", "aliases": []}
    assert (
        await client.put("/admin/v1/models/meta-llama/Llama-3-8B", json=body, headers=AUTH)
    ).status_code == 200
    got = await client.get("/admin/v1/models/meta-llama/Llama-3-8B", headers=AUTH)
    assert got.json()["name"] == "meta-llama/Llama-3-8B"


async def test_invalid_models_get_clear_openai_style_errors(client: httpx.AsyncClient) -> None:
    bad = {**MODEL, "backends": [{"name": "gpu", "base_url": "ftp://x"}]}
    response = await client.put("/admin/v1/models/llama", json=bad, headers=AUTH)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert "http:// or https://" in error["message"]
    assert error["param"] == "backends.0.base_url"
    mismatch = await client.put("/admin/v1/models/other", json=MODEL, headers=AUTH)
    assert mismatch.status_code == 422
    assert "'llama'" in mismatch.json()["error"]["message"]


async def test_conflicting_write_is_refused_before_anything_is_stored(
    client: httpx.AsyncClient, store: MemoryRegistryStore
) -> None:
    await client.put("/admin/v1/models/llama", json=MODEL, headers=AUTH)
    clash = {"name": "qwen", "aliases": ["l3"], "backends": MODEL["backends"]}
    response = await client.put("/admin/v1/models/qwen", json=clash, headers=AUTH)
    assert response.status_code == 422
    assert "'l3' is used by both 'llama' and 'qwen'" in response.json()["error"]["message"]
    assert store.snapshot.version == 1


async def test_apply_registry_is_idempotent(client: httpx.AsyncClient) -> None:
    spec = {"models": [MODEL, {**MODEL, "name": "qwen", "aliases": []}]}
    assert (await client.put("/admin/v1/registry", json=spec, headers=AUTH)).json() == {
        "version": 1,
        "changed": True,
    }
    assert (await client.put("/admin/v1/registry", json=spec, headers=AUTH)).json() == {
        "version": 1,
        "changed": False,
    }
    got = (await client.get("/admin/v1/registry", headers=AUTH)).json()
    assert [m["name"] for m in got["spec"]["models"]] == ["llama", "qwen"]


async def test_status_shows_nodes_with_acks_and_nacks(client: httpx.AsyncClient) -> None:
    status = (await client.get("/admin/v1/status", headers=AUTH)).json()
    assert status["registry_version"] == 0
    cds = status["envoy_nodes"][0]["resources"]["cds"]
    assert cds["acked_version"] == "v1"
    assert cds["last_nack"]["message"] == "bad cluster"


async def test_openapi_is_published(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {
        "/admin/v1/models",
        "/admin/v1/registry",
        "/admin/v1/status",
        "/admin/v1/plans",
        "/admin/v1/plans/{name}",
        "/admin/v1/tenants",
        "/admin/v1/tenants/{tenant_id}",
        "/admin/v1/prices",
        "/admin/v1/keys",
        "/admin/v1/keys/{key_id}",
        "/admin/v1/keys/{key_id}/revoke",
        "/admin/v1/keys/{key_id}/rotate",
        "/admin/v1/usage/{tenant_id}",
    } <= set(paths)
    assert paths["/admin/v1/keys"]["post"]["security"]

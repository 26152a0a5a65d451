"""/admin/v1/.../cache (stats and purges) and the cache fields of registry writes, over in-memory fakes."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from admin_ui.app import create_app
from tests.support.fakes import ADMIN_TOKEN, AdminHarness, FakeClock

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CACHE = {"enabled": True, "layers": ["exact"], "similarity_threshold": 0.95, "ttl_s": 600}
MODEL = {
    "name": "llama",
    "backends": [{"name": "gpu", "base_url": "http://10.0.0.1:8000/v1"}],
    "cache": {"enabled": False},
}
PLAN = {"name": "gold", "billing": {"kind": "per_token"}, "cache": {**CACHE, "hit_billing": "cache_price"}}
TENANT = {"id": "acme", "plan": "gold", "cache": {"namespace": "faq", "ttl_s": 60}}
PRICE = {
    "model": "llama",
    "effective_from": "2026-01-01T00:00:00Z",
    "input_per_1m_micro": 1_000_000,
    "cache_hit_per_1m_micro": 100_000,
}


@pytest.fixture
def harness() -> AdminHarness:
    return AdminHarness(clock=FakeClock(NOW))


@pytest.fixture
async def client(harness: AdminHarness) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=harness.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin", headers=AUTH) as c:
        yield c


async def _seed(client: httpx.AsyncClient) -> None:
    for path, body in (
        ("/admin/v1/models/llama", MODEL),
        ("/admin/v1/plans/gold", PLAN),
        ("/admin/v1/tenants/acme", TENANT),
        ("/admin/v1/tenants/beta", {"id": "beta", "plan": "gold"}),
        ("/admin/v1/prices/llama", PRICE),
    ):
        response = await client.put(path, json=body)
        assert response.status_code == 200, response.text


async def test_every_cache_route_needs_the_admin_token(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/admin/v1/tenants/acme/cache"), ("POST", "/admin/v1/tenants/acme/cache/purge"),
        ("POST", "/admin/v1/tenants/acme/cache/stats/reset"),
        ("POST", "/admin/v1/cache/namespaces/faq/purge"), ("GET", "/admin/v1/cache/stats"),
    ):  # fmt: skip
        response = await client.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert (response.status_code, response.json()["error"]["code"]) == (401, "invalid_admin_token"), path


async def test_tenant_stats(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await _seed(client)
    harness.cache.counters["acme"] = {
        "hits_exact": 3, "hits_semantic": 1, "misses": 4, "saved_prompt_tokens": 900,
        "saved_cost_pico": 1_500_000,
    }  # fmt: skip
    response = await client.get("/admin/v1/tenants/acme/cache")
    assert response.status_code == 200
    assert response.json() == {
        "tenant": "acme", "hits_exact": 3, "hits_semantic": 1, "misses": 4, "bypasses": 0, "stored": 0,
        "saved_prompt_tokens": 900, "saved_completion_tokens": 0, "saved_cost_pico": 1_500_000,
        "hits": 4, "hit_rate": 0.5, "saved_cost_micro": 1,
    }  # fmt: skip


async def test_unknown_tenants_are_404_and_purge_nothing(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await _seed(client)
    for method, path in (
        ("GET", "/admin/v1/tenants/nope/cache"),
        ("POST", "/admin/v1/tenants/nope/cache/purge"),
        ("POST", "/admin/v1/tenants/nope/cache/stats/reset"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 404, path
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", "not_found")
        assert "tenant 'nope' is not in the registry" in error["message"]
    assert harness.cache.purged == []


async def test_all_stats_list_every_registry_tenant(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    assert (await client.get("/admin/v1/cache/stats")).json() == {"version": 0, "tenants": []}
    await _seed(client)
    harness.cache.counters["beta"] = {"misses": 2}
    harness.cache.counters["gone"] = {"misses": 9}  # not in the registry: not listed
    body = (await client.get("/admin/v1/cache/stats")).json()
    assert body["version"] == 5
    assert [(s["tenant"], s["misses"], s["hit_rate"]) for s in body["tenants"]] == [
        ("acme", 0, 0.0),
        ("beta", 2, 0.0),
    ]


async def test_reset_zeroes_one_tenants_counters(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await _seed(client)
    harness.cache.counters["acme"] = {"hits_exact": 3, "misses": 4}
    harness.cache.counters["beta"] = {"misses": 2}
    response = await client.post("/admin/v1/tenants/acme/cache/stats/reset")
    assert response.status_code == 200
    assert (response.json()["tenant"], response.json()["hits"], response.json()["misses"]) == ("acme", 0, 0)
    assert (await client.get("/admin/v1/tenants/beta/cache")).json()["misses"] == 2
    assert harness.cache.purged == []  # counters only: cached answers are kept


async def test_purge_a_tenant(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await _seed(client)
    first = await client.post("/admin/v1/tenants/acme/cache/purge")
    assert first.status_code == 200
    assert first.json() == {"tenant": "acme", "namespace": "t.acme", "generation": 1}
    again = await client.post("/admin/v1/tenants/acme/cache/purge")
    assert again.json()["generation"] == 2
    assert harness.cache.purged == ["t.acme", "t.acme"]  # its own namespace, not the shared "faq"


async def test_purge_a_shared_namespace(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    response = await client.post("/admin/v1/cache/namespaces/faq/purge")
    assert response.status_code == 200
    assert response.json() == {"namespace": "s.faq", "generation": 1}
    for bad in ("FAQ", "-faq", "a.b", "x" * 65):
        refused = await client.post(f"/admin/v1/cache/namespaces/{bad}/purge")
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["code"] == "validation_failed"
    assert harness.cache.purged == ["s.faq"]


async def test_without_a_cache_port_the_cache_routes_answer_503(harness: AdminHarness) -> None:
    app = create_app(
        registry_port=harness.registry,
        xds_status=harness.xds_status,
        keys_port=harness.keys,
        usage_port=harness.usage,
        admin_token=ADMIN_TOKEN,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin", headers=AUTH) as client:
        response = await client.get("/admin/v1/cache/stats")
    assert response.status_code == 503
    assert "the response cache is not configured" in response.json()["error"]["message"]


async def test_registry_writes_accept_and_return_the_cache_fields(client: httpx.AsyncClient) -> None:
    await _seed(client)
    model = (await client.get("/admin/v1/models/llama")).json()
    assert model["cache"]["enabled"] is False
    plan = (await client.get("/admin/v1/plans/gold")).json()
    assert {k: v for k, v in plan["cache"].items() if v is not None} == {
        **CACHE,
        "hit_billing": "cache_price",
    }
    tenant = (await client.get("/admin/v1/tenants/acme")).json()
    assert {k: v for k, v in tenant["cache"].items() if v is not None} == {"namespace": "faq", "ttl_s": 60}
    assert (await client.get("/admin/v1/tenants/beta")).json()["cache"] is None
    listed = (await client.get("/admin/v1/tenants")).json()["tenants"]
    assert [t["cache"] is not None for t in listed] == [True, False]
    prices = (await client.get("/admin/v1/prices/llama")).json()["prices"]
    assert [p["cache_hit_per_1m_micro"] for p in prices] == [100_000]
    spec = (await client.get("/admin/v1/registry")).json()["spec"]
    assert spec["tenants"][0]["cache"]["namespace"] == "faq"
    # what GET returns, PUT takes back unchanged
    assert (await client.put("/admin/v1/tenants/acme", json=tenant)).json()["changed"] is False
    assert (await client.put("/admin/v1/plans/gold", json=plan)).json()["changed"] is False
    assert (await client.put("/admin/v1/models/llama", json=model)).json()["changed"] is False


async def test_registry_writes_validate_the_cache_fields(client: httpx.AsyncClient) -> None:
    await _seed(client)
    for path, body in (
        ("/admin/v1/tenants/acme", {**TENANT, "cache": {"namespace": "Not OK"}}),
        ("/admin/v1/plans/gold", {**PLAN, "cache": {"similarity_threshold": 0.2}}),
        ("/admin/v1/plans/gold", {**PLAN, "cache": {"unknown": 1}}),
        ("/admin/v1/models/llama", {**MODEL, "cache": {"namespace": "faq"}}),  # sharing is not a model's
        ("/admin/v1/prices/llama", {**PRICE, "cache_hit_per_1m_micro": -1}),
    ):
        response = await client.put(path, json=body)
        assert response.status_code == 422, (path, body)
        assert response.json()["error"]["code"] == "validation_failed"

"""/ui/cache: per-tenant counters (paged, read for the shown page only), totals, shared namespaces, and
the admin's purge and reset forms (called through the audited CachePort), with their guards."""

import time
from collections.abc import Sequence

import httpx
import pytest
from fastapi import FastAPI

from admin_ui.app import create_app
from admin_ui.web.context import WebServices
from control_plane.model import AdminRole, CacheStats, Plan, RegistrySpec, Tenant
from tests.support.fakes import ADMIN_TOKEN, AdminHarness
from tests.support.ops_ui import add_tenants, browser_for
from tests.support.ui_pages import UI_BASE, sign_in

ACME = {
    "hits_exact": 1200,
    "hits_semantic": 300,
    "misses": 500,
    "bypasses": 42,
    "stored": 480,
    "saved_prompt_tokens": 1_000_000,
    "saved_completion_tokens": 234_567,
    "saved_cost_pico": 12_345_678_000_000,  # 12.345678 units
}


async def test_the_page_shows_counters_totals_and_namespaces(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await add_tenants(harness, "acme", "beta", "gamma", namespace={"beta": "docs", "gamma": "docs"})
    harness.cache.counters["acme"] = dict(ACME)
    harness.cache.counters["beta"] = {"hits_exact": 10, "misses": 10, "saved_cost_pico": 500_000_000}
    await sign_in(client)
    response = await client.get("/ui/cache")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Response cache</h1>" in html
    assert 'id="cache-stats"' in html
    row = html.split('<tr data-tenant="acme">')[1].split("</tr>")[0]
    for text in (
        "1,200",
        "300",
        "500",
        "42",
        "75.0 %",
        "480",
        "1,234,567",
        "12.345678",
        "on (exact, semantic)",
    ):
        assert text in row, text
    beta = html.split('<tr data-tenant="beta">')[1].split("</tr>")[0]
    assert "50.0 %" in beta
    assert "0.0005" in beta
    assert "shared: <code>docs</code>" in beta
    assert 'id="purge-acme"' in row
    assert 'data-confirm="Purge the cache of tenant acme?' in row
    assert 'id="reset-acme"' in row
    totals = html.split('id="cache-totals"')[1].split("</ul>")[0]
    assert "Totals across all 3 tenants" in html
    assert "1,210" in totals
    assert "510" in totals
    assert "12.346178" in totals  # 12.345678 + 0.0005
    namespaces = html.split('id="cache-namespaces"')[1].split("</table>")[0]
    assert '<tr data-namespace="docs">' in namespaces
    assert "<code>beta</code>, <code>gamma</code>" in namespaces
    assert 'id="purge-ns-docs"' in namespaces


async def test_no_tenants_and_no_namespaces_show_empty_states(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    html = (await client.get("/ui/cache")).text
    assert "There are no tenants yet" in html
    assert "No tenant shares a cache namespace" in html
    assert 'id="cache-stats"' not in html


async def test_without_a_cache_service_the_page_says_so(harness: AdminHarness, web: WebServices) -> None:
    app = create_app(
        registry_port=harness.registry,
        xds_status=harness.xds_status,
        keys_port=harness.keys,
        usage_port=harness.usage,
        admin_token=ADMIN_TOKEN,
        users_port=harness.users,
        web=web,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=UI_BASE) as client:
        csrf = await sign_in(client)
        response = await client.get("/ui/cache")
        assert response.status_code == 200
        assert "The response cache is not configured on this server." in response.text
        purge = await client.post("/ui/cache/tenants/acme/purge", data={"csrf": csrf})
        assert purge.status_code == 503


async def test_purging_a_tenant_calls_the_cache_and_is_audited(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await add_tenants(harness, "acme")
    csrf = await sign_in(client)
    response = await client.post("/ui/cache/tenants/acme/purge", data={"csrf": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/cache?done=tenant-purged"
    assert len(harness.cache.purged) == 1
    assert "acme" in harness.cache.purged[0]
    assert ("ada", "cache.purge", "tenant:acme") in harness.audit.actions()
    page = await client.get(response.headers["location"])
    assert "The tenant&#39;s cache was purged" in page.text


async def test_purging_a_namespace_and_resetting_counters(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await add_tenants(harness, "acme", namespace={"acme": "docs"})
    harness.cache.counters["acme"] = dict(ACME)
    csrf = await sign_in(client)
    purge = await client.post("/ui/cache/namespaces/docs/purge?page=2", data={"csrf": csrf})
    assert (purge.status_code, purge.headers["location"]) == (303, "/ui/cache?page=2&done=namespace-purged")
    assert harness.cache.purged
    assert "docs" in harness.cache.purged[0]
    reset = await client.post("/ui/cache/tenants/acme/reset", data={"csrf": csrf})
    assert (reset.status_code, reset.headers["location"]) == (303, "/ui/cache?done=reset")
    assert "acme" not in harness.cache.counters
    actions = harness.audit.actions()
    assert ("ada", "cache.purge", "namespace:docs") in actions
    assert ("ada", "cache.reset_stats", "acme") in actions


async def test_unknown_tenants_and_bad_namespaces_are_404(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client)
    assert (await client.post("/ui/cache/tenants/nope/purge", data={"csrf": csrf})).status_code == 404
    assert (await client.post("/ui/cache/tenants/nope/reset", data={"csrf": csrf})).status_code == 404
    bad = await client.post("/ui/cache/namespaces/Not_Valid!/purge", data={"csrf": csrf})
    assert bad.status_code == 404
    assert harness.cache.purged == []


async def test_a_post_without_the_csrf_token_is_403(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await add_tenants(harness, "acme")
    await sign_in(client)
    for data in ({}, {"csrf": "forged-token-forged-token"}):
        response = await client.post("/ui/cache/tenants/acme/purge", data=data)
        assert response.status_code == 403
    assert harness.cache.purged == []


async def test_a_viewer_reads_without_forms_and_may_not_post(app: FastAPI, harness: AdminHarness) -> None:
    await add_tenants(harness, "acme", namespace={"acme": "docs"})
    async with browser_for(app, harness, "vera", AdminRole.VIEWER) as (viewer, csrf):
        html = (await viewer.get("/ui/cache")).text
        assert '<tr data-tenant="acme">' in html
        assert 'id="purge-acme"' not in html
        assert 'id="purge-ns-docs"' not in html
        for path in (
            "/ui/cache/tenants/acme/purge",
            "/ui/cache/tenants/acme/reset",
            "/ui/cache/namespaces/docs/purge",
        ):
            assert (await viewer.post(path, data={"csrf": csrf})).status_code == 403
    assert harness.cache.purged == []


async def test_a_tenant_user_may_not_see_the_page(app: FastAPI, harness: AdminHarness) -> None:
    await add_tenants(harness, "acme")
    async with browser_for(app, harness, "tina", AdminRole.TENANT, "acme") as (tenant, csrf):
        assert (await tenant.get("/ui/cache")).status_code == 403
        assert (await tenant.post("/ui/cache/tenants/acme/purge", data={"csrf": csrf})).status_code == 403
    assert harness.cache.purged == []


async def test_signed_out_the_page_redirects_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui/cache")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/login")


async def test_10000_tenants_read_counters_for_one_page_only(
    client: httpx.AsyncClient, harness: AdminHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [f"t{i:05d}" for i in range(10_000)]
    await harness.registry.apply(
        RegistrySpec(plans=(Plan(name="basic"),), tenants=tuple(Tenant(id=i, plan="basic") for i in ids))
    )
    asked: list[list[str]] = []
    real = harness.cache.stats_many

    async def recording(tenants: Sequence[str]) -> list[CacheStats]:
        asked.append(list(tenants))
        return await real(tenants)

    monkeypatch.setattr(harness.cache, "stats_many", recording)
    await sign_in(client)
    started = time.perf_counter()
    response = await client.get("/ui/cache?page=3&per_page=100")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert asked == [ids[200:300]]
    assert response.text.count("<tr data-tenant=") == 100
    assert "201\u2013300 of 10,000" in response.text
    assert "Totals for the tenants on this page" in response.text
    assert elapsed < 2.0, elapsed
    bad = await client.get("/ui/cache?page=abc")
    assert bad.status_code == 200
    assert '<tr data-tenant="t00000">' in bad.text

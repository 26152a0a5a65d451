"""/ui/audit: entries written by earlier actions (the JSON API with the admin token, UI forms), the
before/after shown as changed fields or folded objects, the filters, paging with `before`, and guards."""

from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from admin_ui.app import create_app
from admin_ui.web.context import WebServices
from admin_ui.web.pages.audit_page import describe_change
from control_plane.model import AdminRole, AuditEntry
from tests.support.fakes import ADMIN_TOKEN, AdminHarness
from tests.support.ops_ui import browser_for
from tests.support.ui_pages import UI_BASE, sign_in

API = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _api_tenants(client: httpx.AsyncClient, *ids: str) -> None:
    """Plan `basic` and tenants `ids`, through the JSON API with the admin token (actor `token`)."""
    assert (await client.put("/admin/v1/plans/basic", json={"name": "basic"}, headers=API)).status_code == 200
    for tenant in ids:
        body = {"id": tenant, "plan": "basic"}
        assert (await client.put(f"/admin/v1/tenants/{tenant}", json=body, headers=API)).status_code == 200


def _rows(html: str) -> list[str]:
    return [part.split("</tr>")[0] for part in html.split('<tr class="audit-entry"')[1:]]


async def test_entries_of_earlier_actions_with_their_changes(client: httpx.AsyncClient) -> None:
    plan = await client.put("/admin/v1/plans/basic", json={"name": "basic"}, headers=API)
    assert plan.status_code == 200, plan.text
    for name in ("pro",):
        await client.put(f"/admin/v1/plans/{name}", json={"name": name}, headers=API)
    created = await client.put("/admin/v1/tenants/acme", json={"id": "acme", "plan": "basic"}, headers=API)
    assert created.status_code == 200, created.text
    moved = await client.put("/admin/v1/tenants/acme", json={"id": "acme", "plan": "pro"}, headers=API)
    assert moved.status_code == 200, moved.text
    assert (await client.delete("/admin/v1/plans/basic", headers=API)).status_code == 200
    csrf = await sign_in(client)
    await client.post("/ui/cache/tenants/acme/purge", data={"csrf": csrf})

    response = await client.get("/ui/audit")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Audit log</h1>" in html
    assert 'id="audit"' in html
    rows = _rows(html)
    assert len(rows) == 6
    newest = rows[0]
    assert "<td>ada</td>" in newest
    assert "<code>cache.purge</code>" in newest
    assert "tenant:acme" in newest
    assert "recorded:" in newest
    assert "generation" in newest
    removed = rows[1]
    assert "<code>plan.remove</code>" in removed
    assert '<span class="badge bad">deleted</span>' in removed
    assert "<details>" in removed
    change = rows[2]
    assert "<td>token</td>" in change
    assert "<code>tenant.put</code>" in change
    assert "<code>acme</code>" in change
    assert (
        '<span class="field-name">plan</span>: <span class="old">basic</span> → <span class="new">pro</span>'
        in change
    )
    first = rows[3]
    assert "<code>tenant.put</code>" in first
    assert '<span class="badge ok">created</span>' in first
    assert "<details>" in first
    assert "<dt>plan</dt><dd>basic</dd>" in first
    assert "UTC" in first


async def test_filters_by_actor_action_prefix_and_target(client: httpx.AsyncClient) -> None:
    await _api_tenants(client, "acme", "beta")
    csrf = await sign_in(client)
    await client.post("/ui/cache/tenants/beta/purge", data={"csrf": csrf})
    await client.post("/ui/cache/tenants/beta/reset", data={"csrf": csrf})

    by_ada = _rows((await client.get("/ui/audit?actor=ada")).text)
    assert len(by_ada) == 2
    assert all("<td>ada</td>" in r for r in by_ada)
    tenants = _rows((await client.get("/ui/audit", params={"action": "tenant."})).text)
    assert len(tenants) == 2
    assert all("<code>tenant.put</code>" in r for r in tenants)
    beta = _rows((await client.get("/ui/audit", params={"target": "beta"})).text)
    assert len(beta) == 2
    assert "cache.reset_stats" in beta[0]
    assert "tenant.put" in beta[1]
    page = (await client.get("/ui/audit", params={"actor": "nobody"})).text
    assert "No entry matches these filters." in page
    assert 'value="nobody"' in page
    assert 'id="clear-filters"' in page


async def test_paging_with_before(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    for i in range(60):
        await harness.audit.append(
            AuditEntry(
                at=datetime(2026, 1, 1, tzinfo=UTC), actor="token", action="key.create", target=f"k{i:02d}"
            )
        )
    await sign_in(client)
    first = (await client.get("/ui/audit")).text
    rows = _rows(first)
    assert len(rows) == 50
    assert "<code>k59</code>" in rows[0]
    assert "<code>k10</code>" in rows[-1]
    older = first.split('id="audit-older"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert older == "/ui/audit?before=11-0"
    second = (await client.get(older)).text
    rows = _rows(second)
    assert len(rows) == 10
    assert "<code>k09</code>" in rows[0]
    assert "<code>k00</code>" in rows[-1]
    assert 'id="audit-older"' not in second
    assert 'id="audit-newest"' in second
    filtered = (await client.get("/ui/audit", params={"action": "key.", "per_page": "20"})).text
    link = filtered.split('id="audit-older"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert link == "/ui/audit?action=key.&amp;per_page=20&amp;before=41-0"
    junk = await client.get("/ui/audit?before=not-an-id&per_page=x")
    assert junk.status_code == 200
    assert len(_rows(junk.text)) == 50


async def test_an_empty_log_and_a_missing_one(
    client: httpx.AsyncClient, harness: AdminHarness, web: WebServices
) -> None:
    await sign_in(client)
    assert "Nothing has been changed yet." in (await client.get("/ui/audit")).text
    app = create_app(
        registry_port=harness.registry,
        xds_status=harness.xds_status,
        keys_port=harness.keys,
        usage_port=harness.usage,
        admin_token=ADMIN_TOKEN,
        users_port=harness.users,
        web=web,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=UI_BASE) as other:
        await sign_in(other)
        response = await other.get("/ui/audit")
        assert response.status_code == 200
        assert "The audit log is not configured on this server" in response.text


async def test_viewers_read_it_tenant_users_do_not(
    app: FastAPI, client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await _api_tenants(client, "acme")
    async with browser_for(app, harness, "vera", AdminRole.VIEWER) as (viewer, _):
        response = await viewer.get("/ui/audit")
        assert response.status_code == 200
        assert "tenant.put" in response.text
    async with browser_for(app, harness, "tina", AdminRole.TENANT, "acme") as (tenant, _):
        response = await tenant.get("/ui/audit")
        assert response.status_code == 403
        assert "tenant.put" not in response.text


def test_describe_change_lists_differing_fields_flattened() -> None:
    before = {"id": "acme", "limits": {"rpm": 60, "tpm": None}, "models": ["a"]}
    after = {"id": "acme", "limits": {"rpm": 120, "tpm": None}, "models": ["a", "b"], "note": "x"}
    change = describe_change("tenant.put", before, after)
    assert change.kind == "changed"
    assert change.diffs == (("limits.rpm", "60", "120"), ("models", '["a"]', '["a","b"]'), ("note", "—", "x"))
    assert describe_change("tenant.put", after, after).kind == "unchanged"
    assert describe_change("key.create", None, {"id": "k1"}).kind == "created"
    assert describe_change("cache.reset_stats", {"hits": 1}, None).kind == "before"
    assert describe_change("user.set_password", None, {"password": "changed"}).folded is False

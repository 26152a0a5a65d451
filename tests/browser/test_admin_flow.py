"""The admin UI's acceptance flow in a real browser against the real stack (Envoy, ext_proc, Valkey, the
demo upstream): an admin creates a plan, a tenant and a key in the UI; the official `openai` SDK calls the
gateway with that key; the request, its tokens and its cost show on the tenant page and the dashboard;
revoking the key in the UI makes the next call fail. A viewer can change nothing; a tenant user sees its
own tenant only.

Screenshots of the main pages go to `test-artifacts/screenshots/` (the secret is masked in them)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import openai
import pytest
from playwright.sync_api import Page, expect
from pydantic import SecretStr

from control_plane.admin_client import AdminClient
from control_plane.launcher import StackInfo
from control_plane.model import Plan, Tenant
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
WAIT_S = 15.0


def _user(admin: AdminClient, role: str, tenant: str | None = None) -> str:
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    admin.create_user(username, SecretStr(PASSWORD), role, tenant=tenant)
    return username


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/ui/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("#user")).to_have_text(username)


def _until(page: Page, url: str, ready: Callable[[], bool], what: str) -> None:
    """Reload `url` until `ready()` holds (server-rendered pages show new data on reload only)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        page.goto(url)
        if ready():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not shown within {WAIT_S:.0f} s")
        time.sleep(0.5)


def _number(text: str) -> float:
    """The first number in `text` (thousands separators dropped)."""
    match = re.search(r"-?[0-9][0-9,]*(?:\.[0-9]+)?", text)
    assert match is not None, text
    return float(match.group(0).replace(",", ""))


def _csrf(page: Page) -> str:
    """The session's CSRF token, from the sign-out form every signed-in page has."""
    value = page.locator("#logout input[name=csrf]").get_attribute("value")
    assert value
    return value


def test_admin_creates_plan_tenant_key_sees_usage_and_revokes(
    page: Page, stack_info: StackInfo, admin: AdminClient
) -> None:
    base = stack_info.admin_url
    model = stack_info.demo_model
    assert model is not None
    run = uuid.uuid4().hex[:6]
    plan_name, tenant_id = f"pro-{run}", f"acme-{run}"
    operator = _user(admin, "admin")
    page.on("dialog", lambda dialog: dialog.accept())  # confirm() on revoke
    _sign_in(page, base, operator)

    # A plan, through the plans form (billed per token; every model).
    page.goto(f"{base}/ui/plans/new")
    page.fill("[name='name']", plan_name)
    page.fill("[name='description']", "Acceptance-test plan")
    page.select_option("[name='billing.kind']", "per_token")
    page.fill("[name='limits.requests_per_minute']", "-5")
    page.click("#save")
    field = page.locator(".field.has-error", has=page.locator("[name='limits.requests_per_minute']"))
    expect(field.locator(".field-error")).to_be_visible()  # the message sits next to its field
    assert not any(p["name"] == plan_name for p in admin.plans()["plans"])  # nothing written
    page.fill("[name='limits.requests_per_minute']", "600")
    page.click("#save")
    expect(page.locator(f"tr[data-plan='{plan_name}']")).to_be_visible()
    screenshot(page, "plans")

    # A tenant on that plan.
    page.goto(f"{base}/ui/tenants/-/new")
    page.fill("[name='id']", tenant_id)
    page.fill("[name='name']", "Acme Corp")
    page.select_option("[name='plan']", plan_name)
    page.click("#save")
    page.goto(f"{base}/ui/tenants?q={tenant_id}")
    expect(page.locator(f"tr[data-tenant='{tenant_id}']")).to_be_visible()
    screenshot(page, "tenants")

    # A key: its secret is shown once, with a copy button.
    page.goto(f"{base}/ui/tenants/{tenant_id}")
    page.fill("#new-key [name='name']", "ci")
    page.click("#create-key")
    secret = (page.locator("#key-secret").text_content() or "").strip()
    key_id = (page.locator("#key-id").text_content() or "").strip()
    assert secret.startswith("tw-")
    assert key_id
    expect(page.locator("#copy-secret")).to_be_visible()
    screenshot(page, "key-created", mask=[page.locator("#key-secret")])
    page.goto(f"{base}/ui/tenants/{tenant_id}")
    assert secret not in page.content()  # never rendered twice

    # The official SDK through the gateway with that key.
    client = openai.OpenAI(base_url=stack_info.listener_url, api_key=secret, max_retries=0)
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"acceptance {run}: say something"}]
    )
    assert reply.usage is not None
    tokens = reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert tokens > 0

    # The tenant page shows the request, its tokens and its cost (the same as the invoice's).
    month = datetime.now(UTC).strftime("%Y-%m")
    tenant_url = f"{base}/ui/tenants/{tenant_id}"
    _until(
        page,
        tenant_url,
        lambda: _number(page.locator("#month-requests").inner_text()) == 1,
        "the request on the tenant page",
    )
    assert _number(page.locator("#month-tokens").inner_text()) == tokens
    invoice = admin.usage(tenant_id, month)
    assert invoice["used_tokens"] == tokens
    assert invoice["total_micro"] > 0
    assert _number(page.locator("#month-cost").inner_text()) == pytest.approx(invoice["total_micro"] / 1e6)
    expect(page.locator("#usage-by-model")).to_contain_text(model)
    expect(page.locator(f"tr[data-key='{key_id}'] .state")).to_contain_text("active")
    screenshot(page, "tenant")

    # The dashboard counts it: the tenant is among the top tenants of the last hour.
    top = page.locator(f"#top-tenants tr[data-name='{tenant_id}']")
    _until(page, f"{base}/ui/?window=1h", lambda: top.count() == 1, "the tenant on the dashboard")
    assert _number(top.locator("td").nth(1).inner_text()) == 1  # requests
    assert _number(page.locator("#total-requests").inner_text()) >= 1
    page.wait_for_selector("#chart-requests .main-svg")  # plotly drew the chart
    screenshot(page, "dashboard-traffic")

    # Revoke in the UI; the next call fails.
    page.goto(tenant_url)
    page.click(f"#revoke-{key_id}")
    expect(page.locator(f"tr[data-key='{key_id}'] .state")).to_contain_text("revoked")
    deadline = time.monotonic() + 5
    while True:
        try:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "again"}])
        except openai.AuthenticationError:
            break
        assert time.monotonic() < deadline, "the revoked key still works after 5 s"
        time.sleep(0.2)

    # The audit log has who did what.
    page.goto(f"{base}/ui/audit?actor={operator}")
    audit = page.locator("#audit")
    for action, target in (
        ("plan.put", plan_name),
        ("tenant.put", tenant_id),
        ("key.create", key_id),
        ("key.revoke", key_id),
    ):
        expect(audit.locator("tr.audit-entry", has_text=action).filter(has_text=target)).to_have_count(1)
    screenshot(page, "audit")
    for name in ("models", "prices", "cache", "status"):
        page.goto(f"{base}/ui/{name}")
        expect(page.locator("h1")).to_be_visible()
        screenshot(page, name)


def test_a_viewer_sees_everything_and_changes_nothing(
    page: Page, stack_info: StackInfo, admin: AdminClient
) -> None:
    base = stack_info.admin_url
    run = uuid.uuid4().hex[:6]
    tenant_id = f"viewed-{run}"
    admin.put_tenant(Tenant(id=tenant_id, name="Viewed", plan="demo"))
    key = admin.create_key(tenant_id, name="existing")["key"]
    viewer = _user(admin, "viewer")
    _sign_in(page, base, viewer)

    for path in ("/ui/", "/ui/tenants", f"/ui/tenants/{tenant_id}", "/ui/plans", "/ui/models", "/ui/audit"):
        response = page.goto(f"{base}{path}")
        assert response is not None, path
        assert response.status == 200, path
        assert page.locator("main form[method=post]").count() == 0, f"{path} offers a form to a viewer"
    screenshot(page, "viewer-tenant")

    csrf = _csrf(page)
    posts = (
        f"/ui/tenants/{tenant_id}/suspend",
        f"/ui/tenants/{tenant_id}/keys/{key['id']}/revoke",
        f"/ui/tenants/{tenant_id}/keys",
        "/ui/plans",
    )
    for path in posts:
        response = page.request.post(f"{base}{path}", form={"csrf": csrf, "name": "x"})
        assert response.status == 403, (path, response.status)
    assert admin.key(key["id"])["state"] == "active"
    tenant = next(t for t in admin.tenants()["tenants"] if t["id"] == tenant_id)
    assert tenant["status"] == "active"
    assert len(admin.keys(tenant_id)["keys"]) == 1


def test_a_tenant_user_sees_only_its_own_tenant(
    page: Page, stack_info: StackInfo, admin: AdminClient
) -> None:
    base = stack_info.admin_url
    run = uuid.uuid4().hex[:6]
    mine, theirs = f"mine-{run}", f"theirs-{run}"
    admin.put_plan(Plan(name=f"p-{run}"))
    for tenant_id in (mine, theirs):
        admin.put_tenant(Tenant(id=tenant_id, name=tenant_id.title(), plan=f"p-{run}"))
    their_key = admin.create_key(theirs, name="theirs")["key"]
    user = _user(admin, "tenant", tenant=mine)
    _sign_in(page, base, user)

    expect(page).to_have_url(f"{base}/ui/tenants/{mine}")  # the dashboard sends a tenant user home
    expect(page.locator("#tenant-facts")).to_contain_text(mine)
    assert theirs not in page.content()
    page.fill("#new-key [name='name']", "self-service")
    page.click("#create-key")
    assert (page.locator("#key-secret").text_content() or "").strip().startswith("tw-")
    assert [k["name"] for k in admin.keys(mine)["keys"]] == ["self-service"]
    page.goto(f"{base}/ui/tenants/{mine}")
    screenshot(page, "tenant-self-service")

    for path, status in (
        (f"/ui/tenants/{theirs}", 404),
        (f"/ui/tenants/{theirs}/invoice.csv", 404),
        ("/ui/tenants", 403),
        ("/ui/plans", 403),
        ("/ui/audit", 403),
        ("/ui/users", 403),
    ):
        response = page.goto(f"{base}{path}")
        assert response is not None, path
        assert response.status == status, (path, response.status)
    csrf = _csrf(page)
    response = page.request.post(
        f"{base}/ui/tenants/{theirs}/keys/{their_key['id']}/revoke", form={"csrf": csrf}
    )
    assert response.status == 404
    assert admin.key(their_key["id"])["state"] == "active"
    # Forged from another site (no CSRF token): refused even for its own tenant.
    forged = httpx.post(
        f"{base}/ui/tenants/{mine}/keys",
        data={"name": "forged"},
        cookies={c["name"]: c["value"] for c in page.context.cookies()},
    )
    assert forged.status_code == 403
    assert [k["name"] for k in admin.keys(mine)["keys"]] == ["self-service"]

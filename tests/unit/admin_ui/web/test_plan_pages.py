"""The plans pages: the list (with data and empty), create, update, delete (and a refused delete),
validation messages under their inputs, consistency errors at the top, roles, CSRF and the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from control_plane.model import Backend, Model, Plan, Tenant
from control_plane.model.plan import Billing, BillingKind, Limits
from tests.support.fakes import AdminHarness
from tests.unit.admin_ui.web.registry_ui import Browser, browser, field_block, has_form_post

GOLD = Plan(
    name="gold",
    description="For big customers",
    limits=Limits(requests_per_minute=600, tokens_per_minute=1_200_000, monthly_budget_micro=250_000_000),
    allowed_models=("llama",),
    billing=Billing(
        kind=BillingKind.MONTHLY,
        monthly_fee_micro=49_000_000,
        included_tokens=10_000_000,
        overage_per_1m_micro=2_000_000,
    ),
)
LLAMA = Model(
    name="llama", aliases=("llama-3",), backends=(Backend(name="a", base_url="http://10.0.0.1:8000/v1"),)
)

NEW_PLAN = {
    "name": "silver",
    "description": "Mid tier",
    "billing.kind": "per_call",
    "billing.price_per_call_micro": "2000",
    "limits.requests_per_minute": "60",
    "limits.daily_tokens": "",
    "allowed_models": "llama\n",
    "output_reserve_tokens": "512",
    "max_output_tokens": "",
    "cache.enabled": "true",
    "cache.ttl_s": "600",
}


@pytest.fixture
async def admin(app: FastAPI, harness: AdminHarness) -> AsyncIterator[Browser]:
    async with browser(app, harness, "admin") as b:
        yield b


@pytest.fixture
async def viewer(app: FastAPI, harness: AdminHarness) -> AsyncIterator[Browser]:
    async with browser(app, harness, "viewer") as b:
        yield b


@pytest.fixture
async def filled(harness: AdminHarness) -> AdminHarness:
    await harness.registry.put_model(LLAMA)
    await harness.registry.put_plan(GOLD)
    await harness.registry.put_plan(Plan(name="basic"))
    await harness.registry.put_tenant(Tenant(id="acme", plan="gold"))
    await harness.registry.put_tenant(Tenant(id="zeta", plan="gold"))
    return harness


async def test_the_list_shows_every_plan_with_its_facts(filled: AdminHarness, admin: Browser) -> None:
    response = await admin.get("/ui/plans")
    assert response.status_code == 200
    html = response.text
    assert 'id="plans"' in html
    assert 'id="new-plan"' in html
    gold = html.split('<tr data-plan="gold">')[1].split("</tr>")[0]
    assert "For big customers" in gold
    assert "49.00 per month, 10,000,000 tokens included, then 2.00 per 1M tokens" in gold
    assert "600 requests / min" in gold
    assert "1,200,000 tokens / min" in gold
    assert "budget 250.00 / month" in gold
    assert "<code>llama</code>" in gold
    assert '<td class="num">2</td>' in gold  # two tenants
    basic = html.split('<tr data-plan="basic">')[1].split("</tr>")[0]
    assert "Every model" in basic
    assert "No limits" in basic
    assert '<td class="num">0</td>' in basic


async def test_an_empty_list_says_so(admin: Browser) -> None:
    html = (await admin.get("/ui/plans")).text
    assert 'class="empty"' in html
    assert 'id="plans"' not in html


async def test_create_redirects_with_a_notice_and_stores_the_plan(
    filled: AdminHarness, admin: Browser
) -> None:
    form = (await admin.get("/ui/plans/new")).text
    assert 'id="save"' in form
    assert 'name="limits.requests_per_minute"' in form
    response = await admin.post("/ui/plans", NEW_PLAN)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/plans?done=created"
    page = await admin.get(response.headers["location"])
    assert 'id="flash"' in page.text
    assert "Plan created." in page.text
    plan = (await filled.registry.snapshot()).spec.plan("silver")
    assert plan is not None
    assert plan.billing == Billing(kind=BillingKind.PER_CALL, price_per_call_micro=2000)
    assert plan.limits == Limits(requests_per_minute=60)
    assert plan.allowed_models == ("llama",)
    assert plan.output_reserve_tokens == 512
    assert plan.max_output_tokens is None
    assert plan.cache is not None
    assert plan.cache.enabled is True
    assert plan.cache.ttl_s == 600
    assert ("ada", "plan.put", "silver") in filled.audit.actions()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("limits.requests_per_minute", "-5", "greater than or equal to 0"),
        ("limits.daily_tokens", "lots", "valid integer"),
        ("name", "Not A Slug", "Not in the expected format"),
        ("max_output_tokens", "0", "greater than or equal to 1"),
        ("cache.similarity_threshold", "0.2", "greater than or equal to 0.5"),
    ],
)
async def test_a_bad_value_shows_its_message_next_to_its_field(
    filled: AdminHarness, admin: Browser, field: str, value: str, message: str
) -> None:
    version = (await filled.registry.snapshot()).version
    response = await admin.post("/ui/plans", {**NEW_PLAN, field: value})
    assert response.status_code == 422
    block = field_block(response.text, field)
    assert message in block
    assert "field-error" in block
    assert "Please correct the fields marked below." in response.text
    assert f'value="{value}"' in block or value in block  # what was typed is kept
    assert (await filled.registry.snapshot()).version == version
    assert filled.audit.actions() == []


async def test_a_billing_rule_is_shown_under_the_billing_model(filled: AdminHarness, admin: Browser) -> None:
    response = await admin.post("/ui/plans", {**NEW_PLAN, "billing.monthly_fee_micro": "100"})
    assert response.status_code == 422
    assert "apply to monthly only" in field_block(response.text, "billing.kind")
    assert 'value="100"' in field_block(response.text, "billing.monthly_fee_micro")


async def test_an_unknown_or_aliased_model_is_reported_at_the_top(
    filled: AdminHarness, admin: Browser
) -> None:
    response = await admin.post("/ui/plans", {**NEW_PLAN, "allowed_models": "llama-3\nnope"})
    assert response.status_code == 422
    top = response.text.split('id="plan-form"')[0]
    assert "&#39;llama-3&#39; is an alias of &#39;llama&#39;" in top
    assert "&#39;nope&#39; is not a model in the registry" in top
    assert (await filled.registry.snapshot()).spec.plan("silver") is None


async def test_a_taken_name_is_refused_next_to_the_name(filled: AdminHarness, admin: Browser) -> None:
    response = await admin.post("/ui/plans", {**NEW_PLAN, "name": "gold"})
    assert response.status_code == 422
    assert "already exists" in field_block(response.text, "name")


async def test_update_keeps_the_name_and_replaces_the_rest(filled: AdminHarness, admin: Browser) -> None:
    form = await admin.get("/ui/plans/gold/edit")
    assert form.status_code == 200
    assert 'value="600"' in field_block(form.text, "limits.requests_per_minute")
    assert "readonly" in field_block(form.text, "name")
    data = {**NEW_PLAN, "name": "ignored", "billing.kind": "per_token", "billing.price_per_call_micro": ""}
    response = await admin.post("/ui/plans/gold", data)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/plans?done=updated"
    plan = (await filled.registry.snapshot()).spec.plan("gold")
    assert plan is not None
    assert plan.billing.kind is BillingKind.PER_TOKEN
    assert plan.limits == Limits(requests_per_minute=60)
    assert (await filled.registry.snapshot()).spec.plan("ignored") is None
    assert ("ada", "plan.put", "gold") in filled.audit.actions()


async def test_editing_a_missing_plan_is_404(admin: Browser) -> None:
    assert (await admin.get("/ui/plans/nope/edit")).status_code == 404
    assert (await admin.post("/ui/plans/nope", NEW_PLAN)).status_code == 404


async def test_delete_removes_an_unused_plan(filled: AdminHarness, admin: Browser) -> None:
    response = await admin.post("/ui/plans/basic/delete")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/plans?done=deleted"
    assert (await filled.registry.snapshot()).spec.plan("basic") is None
    assert ("ada", "plan.remove", "basic") in filled.audit.actions()


async def test_deleting_a_plan_in_use_is_refused_with_the_tenants_named(
    filled: AdminHarness, admin: Browser
) -> None:
    response = await admin.post("/ui/plans/gold/delete")
    assert response.status_code == 409
    assert "is used by tenant(s)" in response.text
    assert "acme" in response.text
    assert 'id="plans"' in response.text
    assert (await filled.registry.snapshot()).spec.plan("gold") is not None
    assert filled.audit.actions() == []


async def test_a_viewer_sees_the_list_without_forms_and_cannot_post(
    filled: AdminHarness, viewer: Browser
) -> None:
    html = (await viewer.get("/ui/plans")).text
    assert 'data-plan="gold"' in html
    assert not has_form_post(html)
    assert 'id="new-plan"' not in html
    assert "/edit" not in html
    assert (await viewer.get("/ui/plans/new")).status_code == 403
    assert (await viewer.get("/ui/plans/gold/edit")).status_code == 403
    for path in ("/ui/plans", "/ui/plans/gold", "/ui/plans/basic/delete"):
        assert (await viewer.post(path, NEW_PLAN)).status_code == 403
    assert (await filled.registry.snapshot()).spec.plan("silver") is None
    assert filled.audit.actions() == []


async def test_a_tenant_user_gets_403_everywhere(app: FastAPI, filled: AdminHarness) -> None:
    async with browser(app, filled, "tenant") as tenant:
        for path in ("/ui/plans", "/ui/plans/new", "/ui/plans/gold/edit"):
            assert (await tenant.get(path)).status_code == 403
        for path in ("/ui/plans", "/ui/plans/gold", "/ui/plans/basic/delete"):
            assert (await tenant.post(path, NEW_PLAN)).status_code == 403


async def test_a_post_without_the_csrf_token_is_403(filled: AdminHarness, admin: Browser) -> None:
    for path in ("/ui/plans", "/ui/plans/gold", "/ui/plans/basic/delete"):
        assert (await admin.post(path, NEW_PLAN, csrf=False)).status_code == 403
        assert (await admin.post(path, {**NEW_PLAN, "csrf": "forged"}, csrf=False)).status_code == 403
    assert (await filled.registry.snapshot()).spec.plan("basic") is not None
    assert filled.audit.actions() == []


async def test_an_unknown_done_code_shows_no_notice(admin: Browser) -> None:
    html = (await admin.get("/ui/plans?done=<b>hacked</b>")).text
    assert 'id="flash"' not in html
    assert "hacked" not in html

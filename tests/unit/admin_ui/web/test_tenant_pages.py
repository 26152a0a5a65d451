"""The tenant pages over the harness fakes and a real Valkey for sessions: the list (search, status,
paging over 10,000 tenants), create and edit (field errors, overrides), suspend/resume, the tenant page
(usage numbers, budget, invoice, CSV) and who may see and change what."""

import html as html_lib

import httpx
import pytest

from admin_ui.web.forms import form_text, whole_number
from control_plane.model import AdminRole, Billing, BillingKind, Plan, RegistrySpec, Tenant, TenantStatus
from control_plane.usage import build_invoice, invoice_csv
from tests.support.fakes import AdminHarness
from tests.support.tenant_pages import ACME_MONTH, ids_in, seed, text_of
from tests.support.ui_pages import UI_PASSWORD, page_csrf, sign_in


@pytest.fixture(autouse=True)
async def seeded(harness: AdminHarness) -> None:
    await seed(harness)


async def _tenant(harness: AdminHarness, tenant_id: str) -> Tenant | None:
    return (await harness.registry.snapshot()).spec.tenant(tenant_id)


# ---- the list ------------------------------------------------------------------------------------


async def test_the_list_shows_every_tenant_with_this_months_usage(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    response = await client.get("/ui/tenants")
    assert response.status_code == 200
    page = response.text
    assert ids_in(page, "data-tenant") == ["acme", "globex"]
    assert 'id="tenant-search"' in page
    assert 'name="q"' in page
    assert 'id="new-tenant" href="/ui/tenants/-/new"' in page
    row = text_of(page, "tenants")
    assert "Acme Corp basic active 1,234 2.50" in row
    assert "Globex free active 0 0.00" in row


async def test_search_and_status_filter(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await harness.registry.put_tenant(
        Tenant(id="initech", name="ACME subsidiary", plan="free", status="suspended")
    )
    await sign_in(client)
    by_name = await client.get("/ui/tenants", params={"q": "acme"})
    assert ids_in(by_name.text, "data-tenant") == ["acme", "initech"]  # id or name, any case
    by_id = await client.get("/ui/tenants", params={"q": "GLOB"})
    assert ids_in(by_id.text, "data-tenant") == ["globex"]
    suspended = await client.get("/ui/tenants", params={"status": "suspended"})
    assert ids_in(suspended.text, "data-tenant") == ["initech"]
    nothing = await client.get("/ui/tenants", params={"q": "nobody"})
    assert ids_in(nothing.text, "data-tenant") == []
    assert "No tenant matches this search." in nothing.text


async def test_an_empty_registry_has_an_empty_state(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    for tenant_id in ("acme", "globex"):
        await harness.registry.remove_tenant(tenant_id)
    await sign_in(client)
    page = (await client.get("/ui/tenants")).text
    assert "There are no tenants yet." in page
    assert 'id="tenants"' not in page


async def test_ten_thousand_tenants_page_by_fifty(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    tenants = tuple(Tenant(id=f"t{i:05d}", name=f"Tenant {i}", plan="free") for i in range(10_000))
    await harness.registry.apply(RegistrySpec(plans=(Plan(name="free"),), tenants=tenants))
    await sign_in(client)
    first = await client.get("/ui/tenants")
    assert first.status_code == 200
    rows = ids_in(first.text, "data-tenant")
    assert len(rows) == 50
    assert rows[0] == "t00000"
    assert "1\u201350 of 10,000" in first.text  # an en dash
    assert 'href="/ui/tenants?page=2"' in first.text
    last = await client.get("/ui/tenants", params={"page": "200"})
    assert ids_in(last.text, "data-tenant")[-1] == "t09999"
    found = await client.get("/ui/tenants", params={"q": "tenant 9999"})
    assert ids_in(found.text, "data-tenant") == ["t09999"]
    bad_page = await client.get("/ui/tenants", params={"page": "x"})
    assert bad_page.status_code == 200


# ---- create and edit -----------------------------------------------------------------------------


async def test_create_with_bad_input_shows_the_form_again_and_writes_nothing(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client)
    form_page = await client.get("/ui/tenants/-/new")
    assert form_page.status_code == 200
    for name in ("id", "name", "plan", "status", "overrides.daily_tokens"):
        assert f'name="{name}"' in form_page.text
    version = (await harness.registry.snapshot()).version
    form = {"csrf": csrf, "id": "Bad Id!", "name": "x", "plan": "basic", "overrides.daily_tokens": "lots"}
    response = await client.post("/ui/tenants", data=form)
    assert response.status_code == 422
    page = html_lib.unescape(response.text)
    assert 'id="f-id-error"' in page
    assert "lower-case letters" in page
    assert 'id="f-overrides-daily-tokens-error"' in page
    assert 'value="lots"' in page  # what was typed is kept
    assert (await harness.registry.snapshot()).version == version
    assert harness.audit.actions() == []


async def test_an_existing_id_is_refused_next_to_the_id(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client)
    response = await client.post("/ui/tenants", data={"csrf": csrf, "id": "acme", "plan": "free"})
    assert response.status_code == 422
    assert "already exists" in text_of(response.text, "f-id-error")
    assert (await _tenant(harness, "acme")) == Tenant(id="acme", name="Acme Corp", plan="basic")


async def test_a_negative_override_is_a_field_error(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    form = {"csrf": csrf, "id": "newco", "plan": "free", "overrides.requests_per_minute": "-5"}
    response = await client.post("/ui/tenants", data=form)
    assert response.status_code == 422
    assert "whole number from 0" in text_of(response.text, "f-overrides-requests-per-minute-error")


async def test_create_stores_the_tenant_and_redirects(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client)
    form = {"csrf": csrf, "id": "newco", "name": "New Co", "plan": "free", "status": "suspended"}
    response = await client.post("/ui/tenants", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/tenants/newco?done=created"
    assert await _tenant(harness, "newco") == Tenant(
        id="newco", name="New Co", plan="free", status="suspended"
    )
    page = await client.get(response.headers["location"])
    assert "Tenant created." in text_of(page.text, "flash")
    assert harness.audit.actions() == [("ada", "tenant.put", "newco")]


async def test_edit_overrides_blank_none_and_numbers(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client)
    form_page = await client.get("/ui/tenants/acme/edit")
    assert form_page.status_code == 200
    assert "Plan basic: 60." in html_lib.unescape(form_page.text)  # the plan's value as help
    form = {
        "csrf": csrf,
        "name": "Acme Inc",
        "plan": "basic",
        "overrides.requests_per_minute": "1,000",
        "overrides.monthly_budget_micro": "none",
        "overrides.daily_tokens": "",
    }
    response = await client.post("/ui/tenants/acme", data=form)
    assert response.status_code == 303
    tenant = await _tenant(harness, "acme")
    assert tenant is not None
    assert tenant.overrides is not None
    assert tenant.name == "Acme Inc"
    assert tenant.overrides.model_fields_set == {"requests_per_minute", "monthly_budget_micro"}
    assert tenant.overrides.requests_per_minute == 1000
    assert tenant.overrides.monthly_budget_micro is None
    again = html_lib.unescape((await client.get("/ui/tenants/acme/edit")).text)
    assert 'name="overrides.monthly_budget_micro" id="f-overrides-monthly-budget-micro" value="none"' in again
    assert 'name="overrides.requests_per_minute" id="f-overrides-requests-per-minute" value="1000"' in again
    detail = (await client.get("/ui/tenants/acme")).text
    assert "no budget" in text_of(detail, "budget")
    # Blank everything: the overrides go away.
    cleared = {"csrf": csrf, "name": "Acme Inc", "plan": "basic"}
    assert (await client.post("/ui/tenants/acme", data=cleared)).status_code == 303
    assert (await _tenant(harness, "acme")) == Tenant(id="acme", name="Acme Inc", plan="basic")
    assert [a for _, a, _ in harness.audit.actions()] == ["tenant.put", "tenant.put"]


async def test_suspend_and_resume(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    csrf = await sign_in(client)
    assert 'id="suspend"' in (await client.get("/ui/tenants/acme")).text
    response = await client.post("/ui/tenants/acme/suspend", data={"csrf": csrf})
    assert response.status_code == 303
    tenant = await _tenant(harness, "acme")
    assert tenant is not None
    assert tenant.status is TenantStatus.SUSPENDED
    page = (await client.get(response.headers["location"])).text
    assert 'id="resume"' in page
    assert 'id="suspend"' not in page
    assert (await client.post("/ui/tenants/acme/resume", data={"csrf": csrf})).status_code == 303
    tenant = await _tenant(harness, "acme")
    assert tenant is not None
    assert tenant.status is TenantStatus.ACTIVE
    assert harness.audit.actions() == [("ada", "tenant.put", "acme"), ("ada", "tenant.put", "acme")]
    missing = await client.post("/ui/tenants/nope/suspend", data={"csrf": csrf})
    assert missing.status_code == 404


# ---- the tenant page -----------------------------------------------------------------------------


async def test_the_tenant_page_numbers(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    response = await client.get("/ui/tenants/acme")
    assert response.status_code == 200
    page = response.text
    assert text_of(page, "month-requests") == "1,234"
    assert text_of(page, "month-tokens") == "750,000"
    assert text_of(page, "month-cost") == "2.50"
    facts = text_of(page, "tenant-facts")
    assert "acme" in facts
    assert "Acme Corp" in facts
    assert "basic" in facts
    assert "active" in facts
    budget = text_of(page, "budget")
    assert "Monthly budget 10.00 2.50 7.50" in budget
    assert "Monthly tokens 1,000,000 750,000 250,000" in budget
    assert "Tokens today 100,000 60,000 40,000" in budget
    by_model = text_of(page, "usage-by-model")
    assert "2026-11-21 gpt-4o 20 30,000 15,000 0.10" in by_model
    assert "2026-11-21 small 10 10,000 5,000 0.023456" in by_model
    assert "2026-11-20 small 5 0 0 0.00" in by_model
    assert 'id="usage-chart"' in page
    assert "data-figure=" in page
    assert "/ui/vendor/plotly.min.js" in page
    invoice = text_of(page, "invoice-lines")
    assert "gpt-4o v1 1,000 500,000" in invoice
    assert "2.50" in text_of(page, "invoice-total")
    assert 'href="/ui/tenants/acme/invoice.csv?month=2026-11"' in page


async def test_a_monthly_plan_shows_the_invoice_total_as_this_months_cost(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    billing = Billing(kind=BillingKind.MONTHLY, monthly_fee_micro=20_000_000, included_tokens=1_000_000)
    await harness.registry.put_plan(Plan(name="pro", billing=billing))
    await harness.registry.put_tenant(Tenant(id="initech", plan="pro"))
    # 1.5 micro-units on each line: each invoice line rounds half up to 2, the plain sum is 3.
    harness.usage.usage[("initech", "2026-11")] = {
        "*|*|requests": 2,
        "*|*|cost_pico": 3_000_000,
        "gpt-4o|v1|requests": 1,
        "gpt-4o|v1|cost_pico": 1_500_000,
        "small|v1|requests": 1,
        "small|v1|cost_pico": 1_500_000,
    }
    await sign_in(client)
    page = (await client.get("/ui/tenants/initech")).text
    assert text_of(page, "month-cost") == "20.000004"  # the fee and the lines as the invoice rounds them
    assert text_of(page, "invoice-total") == "20.000004"
    assert "monthly fee included" in text_of(page, "month-cost-label")
    assert text_of(page, "month-requests") == "2"  # the usage totals are the counters'
    # Another month's invoice on the page leaves this month's figure alone.
    october = (await client.get("/ui/tenants/initech", params={"month": "2026-10"})).text
    assert text_of(october, "month-cost") == "20.000004"
    assert text_of(october, "invoice-total") == "20.00"


async def test_a_tenant_without_usage_or_budget(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    page = (await client.get("/ui/tenants/globex")).text
    assert text_of(page, "month-requests") == "0"
    assert "no budget" in text_of(page, "budget")
    assert "No usage in the last 30 days." in page
    assert "This tenant has no API keys yet." in page


async def test_another_month_and_a_bad_month(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    october = await client.get("/ui/tenants/acme", params={"month": "2026-10"})
    assert "No usage in 2026-10." in october.text
    assert 'href="/ui/tenants/acme/invoice.csv?month=2026-10"' in october.text
    assert (await client.get("/ui/tenants/acme", params={"month": "2026-13"})).status_code == 400
    assert (await client.get("/ui/tenants/nope")).status_code == 404


async def test_csv_export_is_the_invoice(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    response = await client.get("/ui/tenants/acme/invoice.csv", params={"month": "2026-11"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="tollway-acme-2026-11.csv"'
    expected = invoice_csv(build_invoice("acme", Plan(name="basic"), "2026-11", ACME_MONTH))
    assert response.text == expected
    default = await client.get("/ui/tenants/acme/invoice.csv")
    assert default.text == expected  # this month by default (the harness clock: 2026-11)


# ---- who may do what -----------------------------------------------------------------------------


async def test_a_viewer_reads_but_gets_403_on_every_post(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client, "vic")
    listing = (await client.get("/ui/tenants")).text
    assert 'id="new-tenant"' not in listing
    page = (await client.get("/ui/tenants/acme")).text
    for form_id in ('id="suspend"', 'id="new-key"', 'id="edit-tenant"', 'action="/ui/tenants/acme/keys'):
        assert form_id not in page
    assert (await client.get("/ui/tenants/-/new")).status_code == 403
    assert (await client.get("/ui/tenants/acme/edit")).status_code == 403
    version = (await harness.registry.snapshot()).version
    posts = {
        "/ui/tenants": {"id": "newco", "plan": "free"},
        "/ui/tenants/acme": {"name": "x", "plan": "free"},
        "/ui/tenants/acme/suspend": {},
        "/ui/tenants/acme/resume": {},
        "/ui/tenants/acme/keys": {"name": "k"},
    }
    for path, data in posts.items():
        response = await client.post(path, data={"csrf": csrf, **data})
        assert response.status_code == 403, path
    assert (await harness.registry.snapshot()).version == version
    assert harness.audit.actions() == []


async def test_a_tenant_user_sees_its_own_tenant_only(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client, "tina")
    own = await client.get("/ui/tenants/acme")
    assert own.status_code == 200
    assert 'id="new-key"' in own.text
    assert 'id="suspend"' not in own.text
    assert 'id="edit-tenant"' not in own.text
    assert (await client.get("/ui/tenants/acme/invoice.csv")).status_code == 200
    assert (await client.get("/ui/tenants/globex")).status_code == 404
    assert (await client.get("/ui/tenants/globex/invoice.csv")).status_code == 404
    assert (await client.get("/ui/tenants")).status_code == 403
    assert (await client.get("/ui/tenants/acme/edit")).status_code == 403
    suspend = await client.post("/ui/tenants/acme/suspend", data={"csrf": csrf})
    assert suspend.status_code == 403


async def test_a_tenant_named_new_has_its_page(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    """The create form lives at /ui/tenants/-/new, so it never hides the page of a tenant called `new`."""
    await harness.registry.put_tenant(Tenant(id="new", name="New Corp", plan="free"))
    await harness.users.create("nina", UI_PASSWORD, AdminRole.TENANT, tenant="new")
    await sign_in(client)
    admin_view = await client.get("/ui/tenants/new")
    assert admin_view.status_code == 200
    assert "New Corp" in text_of(admin_view.text, "tenant-facts")
    assert (await client.get("/ui/tenants/new/edit")).status_code == 200
    client.cookies.clear()
    await sign_in(client, "nina")
    own = await client.get("/ui/tenants/new")
    assert own.status_code == 200
    assert "New Corp" in text_of(own.text, "tenant-facts")
    assert (await client.get("/ui/tenants/-/new")).status_code == 403  # the form stays admin-only


def test_whole_number_reads_what_people_type() -> None:
    assert whole_number("1,000", low=0, high=10_000) == 1000
    assert whole_number(" 1_000 000 ", low=0, high=10**7) == 1_000_000
    assert whole_number("", low=1, high=5) is None
    assert whole_number("  ", low=1, high=5) is None
    for bad in ("soon", "1.5", "0x10", "+-3", "²", "9" * 50):
        with pytest.raises(ValueError, match="whole number from 1 to 5"):
            whole_number(bad, low=1, high=5)
    for out_of_range in ("0", "6", "-1"):
        with pytest.raises(ValueError, match="whole number from 1 to 5"):
            whole_number(out_of_range, low=1, high=5)


def test_form_text_trims_but_keeps_passwords_as_typed() -> None:
    form = {"name": "  Acme  ", "password": " secret ", "file": object()}
    assert form_text(form, "name") == "Acme"
    assert form_text(form, "password", strip=False) == " secret "
    assert form_text(form, "file") == ""
    assert form_text(form, "missing") == ""


async def test_posts_without_the_csrf_token_are_403_and_change_nothing(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await sign_in(client)
    version = (await harness.registry.snapshot()).version
    for path, data in {
        "/ui/tenants": {"id": "newco", "plan": "free"},
        "/ui/tenants/acme": {"name": "x", "plan": "free"},
        "/ui/tenants/acme/suspend": {},
    }.items():
        assert (await client.post(path, data=data)).status_code == 403, path
        assert (await client.post(path, data={**data, "csrf": "forged"})).status_code == 403, path
    assert (await harness.registry.snapshot()).version == version
    assert harness.audit.actions() == []


async def test_pages_have_no_inline_scripts_or_styles(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    for path in ("/ui/tenants", "/ui/tenants/-/new", "/ui/tenants/acme", "/ui/tenants/acme/edit"):
        page = (await client.get(path)).text
        assert "<style" not in page, path
        assert "style=" not in page, path
        assert "<script>" not in page, path
        assert "<script " not in page.replace('<script src="/ui/', ""), path
        assert page_csrf(page)  # the signed-in header carries the token

"""The prices page: the list by model with the version in force marked (with data and empty), adding a
version (and replacing one), removing one, validation messages under their inputs, consistency errors
at the top of the form, roles, CSRF and the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from control_plane.model import Backend, Model, Price
from tests.support.fakes import AdminHarness
from tests.unit.admin_ui.web.registry_ui import Browser, browser, field_block, has_form_post

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
OLD = NOW - timedelta(days=30)
CURRENT = NOW - timedelta(days=1)
FUTURE = NOW + timedelta(days=5)
LLAMA = Model(name="llama", backends=(Backend(name="a", base_url="http://10.0.0.1:8000/v1"),))
GPT = Model(name="gpt", backends=(Backend(name="a", base_url="https://api.example.com/v1"),))

NEW_PRICE = {
    "model": "gpt",
    "effective_from": "2030-01-02T03:04",
    "input_per_1m_micro": "2500000",
    "output_per_1m_micro": "10000000",
    "cached_input_per_1m_micro": "",
    "cache_hit_per_1m_micro": "125",
}


def _key(model: str, start: datetime) -> str:
    return f"{model}@{start.isoformat()}"


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
    await harness.registry.put_model(GPT)
    await harness.registry.put_price(Price(model="llama", effective_from=OLD, input_per_1m_micro=900_000))
    await harness.registry.put_price(
        Price(model="llama", effective_from=CURRENT, input_per_1m_micro=150_000, output_per_1m_micro=600_000)
    )
    await harness.registry.put_price(
        Price(model="llama", effective_from=FUTURE, input_per_1m_micro=1_234_567_890)
    )
    return harness


def _row(html: str, key: str) -> str:
    return html.split(f'<tr data-price="{key}"')[1].split("</tr>")[0]


async def test_the_list_groups_by_model_and_marks_the_price_in_force(
    filled: AdminHarness, admin: Browser
) -> None:
    response = await admin.get("/ui/prices")
    assert response.status_code == 200
    html = response.text
    assert 'id="prices"' in html
    assert 'id="new-price"' in html
    keys = [_key("llama", FUTURE), _key("llama", CURRENT), _key("llama", OLD)]
    positions = [html.index(f'data-price="{k}"') for k in keys]
    assert positions == sorted(positions)  # newest first within the model
    assert "in force" in _row(html, _key("llama", CURRENT))
    assert "0.15 / 1M" in _row(html, _key("llama", CURRENT))
    assert "0.60 / 1M" in _row(html, _key("llama", CURRENT))
    assert "scheduled" in _row(html, _key("llama", FUTURE))
    assert "1,234.56789 / 1M" in _row(html, _key("llama", FUTURE))
    assert "superseded" in _row(html, _key("llama", OLD))
    assert CURRENT.strftime("%Y-%m-%d %H:%M:%S UTC") in _row(html, _key("llama", CURRENT))
    assert '<option value="gpt"' in html


async def test_an_empty_list_says_so(admin: Browser) -> None:
    html = (await admin.get("/ui/prices")).text
    assert 'class="empty"' in html
    assert 'id="prices"' not in html
    assert 'id="new-price"' not in html
    assert "Add a model first" in html


async def test_adding_a_price_stores_it_as_utc(filled: AdminHarness, admin: Browser) -> None:
    response = await admin.post("/ui/prices", NEW_PRICE)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/ui/prices?done=added"
    assert "Price added." in (await admin.get(response.headers["location"])).text
    start = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    (price,) = [p for p in (await filled.registry.snapshot()).spec.prices if p.model == "gpt"]
    assert price == Price(
        model="gpt",
        effective_from=start,
        input_per_1m_micro=2_500_000,
        output_per_1m_micro=10_000_000,
        cache_hit_per_1m_micro=125,
    )
    assert ("ada", "price.put", _key("gpt", start)) in filled.audit.actions()
    again = await admin.post("/ui/prices", {**NEW_PRICE, "input_per_1m_micro": "1"})
    assert again.headers["location"] == "/ui/prices?done=replaced"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_per_1m_micro", "-1", "greater than or equal to 0"),
        ("output_per_1m_micro", "1.5", "valid integer"),
        ("effective_from", "", "Field required"),
        ("effective_from", "next tuesday", "valid datetime"),
    ],
)
async def test_a_bad_value_shows_its_message_next_to_its_field(
    filled: AdminHarness, admin: Browser, field: str, value: str, message: str
) -> None:
    version = (await filled.registry.snapshot()).version
    response = await admin.post("/ui/prices", {**NEW_PRICE, field: value})
    assert response.status_code == 422
    block = field_block(response.text, field)
    assert message in block
    assert "field-error" in block
    assert "Please correct the fields marked below." in response.text.split('id="new-price"')[0]
    assert (await filled.registry.snapshot()).version == version
    assert filled.audit.actions() == []


async def test_a_price_for_a_model_not_in_the_registry_is_refused_at_the_top(
    filled: AdminHarness, admin: Browser
) -> None:
    response = await admin.post("/ui/prices", {**NEW_PRICE, "model": "gone"})
    assert response.status_code == 422
    top = response.text.split('id="new-price"')[0].split('class="card"')[1]
    assert "the model is not in the registry" in top
    assert filled.audit.actions() == []


async def test_remove_deletes_one_version(filled: AdminHarness, admin: Browser) -> None:
    response = await admin.post("/ui/prices/delete", {"model": "llama", "effective_from": OLD.isoformat()})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/prices?done=removed"
    starts = {p.effective_from for p in (await filled.registry.snapshot()).spec.prices}
    assert starts == {CURRENT, FUTURE}
    assert ("ada", "price.remove", _key("llama", OLD)) in filled.audit.actions()
    missing = await admin.post("/ui/prices/delete", {"model": "llama", "effective_from": OLD.isoformat()})
    assert missing.status_code == 404
    bad = await admin.post("/ui/prices/delete", {"model": "llama", "effective_from": "yesterday"})
    assert bad.status_code == 404


async def test_a_viewer_sees_the_list_without_forms_and_cannot_post(
    filled: AdminHarness, viewer: Browser
) -> None:
    html = (await viewer.get("/ui/prices")).text
    assert f'data-price="{_key("llama", CURRENT)}"' in html
    assert not has_form_post(html)
    assert 'id="new-price"' not in html
    assert (await viewer.post("/ui/prices", NEW_PRICE)).status_code == 403
    delete = {"model": "llama", "effective_from": OLD.isoformat()}
    assert (await viewer.post("/ui/prices/delete", delete)).status_code == 403
    assert len((await filled.registry.snapshot()).spec.prices) == 3
    assert filled.audit.actions() == []


async def test_a_tenant_user_gets_403_everywhere(app: FastAPI, filled: AdminHarness) -> None:
    async with browser(app, filled, "tenant") as tenant:
        assert (await tenant.get("/ui/prices")).status_code == 403
        assert (await tenant.post("/ui/prices", NEW_PRICE)).status_code == 403
        delete = {"model": "llama", "effective_from": OLD.isoformat()}
        assert (await tenant.post("/ui/prices/delete", delete)).status_code == 403


async def test_a_post_without_the_csrf_token_is_403(filled: AdminHarness, admin: Browser) -> None:
    assert (await admin.post("/ui/prices", NEW_PRICE, csrf=False)).status_code == 403
    delete = {"model": "llama", "effective_from": OLD.isoformat()}
    assert (await admin.post("/ui/prices/delete", delete, csrf=False)).status_code == 403
    assert len((await filled.registry.snapshot()).spec.prices) == 3
    assert filled.audit.actions() == []

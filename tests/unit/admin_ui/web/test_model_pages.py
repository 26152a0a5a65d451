"""The models pages: the list (with data and empty), create with backend rows, credentials and a traffic
policy in JSON, update, delete, validation messages under their inputs (backend rows, the JSON
textareas), consistency errors at the top, roles, CSRF and the audit log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from control_plane.model import Backend, Model, Price, UpstreamCredential
from control_plane.model.traffic import LbPolicy, LoadBalancing, RetryPolicy, TrafficPolicy
from tests.support.fakes import AdminHarness
from tests.unit.admin_ui.web.registry_ui import Browser, browser, field_block, has_form_post

NOW = datetime.now(UTC)
KEY = UpstreamCredential(name="openai-key", sealed_value="s", hint="…wxyz", updated_at=NOW)
LLAMA = Model(
    name="meta/llama-3",
    aliases=("llama",),
    description="Chat model",
    backends=(
        Backend(name="gpu-a", base_url="http://10.0.0.1:8000/v1", weight=3),
        Backend(name="gpu-b", base_url="http://10.0.0.2:8000/v1", priority=1),
    ),
    traffic=TrafficPolicy(
        load_balancing=LoadBalancing(policy=LbPolicy.RING_HASH, hash_header="x-session-id")
    ),
    upstream_credentials=("openai-key",),
    upstream_headers={"openai-organization": "org-1"},
)
OTHER = Model(name="small", backends=(Backend(name="a", base_url="http://10.0.0.9:8000/v1"),))

NEW_MODEL = {
    "name": "mistral",
    "owned_by": "acme",
    "aliases": "mistral-7b\n",
    "description": "",
    "rows": "3",
    "backends.0.name": "one",
    "backends.0.base_url": "http://10.1.0.1:8000/v1",
    "backends.0.provider": "vllm",
    "backends.0.weight": "2",
    "backends.0.priority": "",
    "backends.1.name": "",
    "backends.1.base_url": "",
    "backends.2.name": "two",
    "backends.2.base_url": "http://10.1.0.2:8000/v1",
    "backends.2.priority": "1",
    "upstream_credentials": ["openai-key"],
    "traffic": json.dumps({"retry": {"attempts": 4}}),
    "upstream_headers": "",
    "registration": "",
    "cache": '{"enabled": false}',
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
    await harness.registry.put_credential(KEY)
    await harness.registry.put_model(LLAMA)
    await harness.registry.put_model(OTHER)
    old = Price(model="meta/llama-3", effective_from=NOW - timedelta(days=30), input_per_1m_micro=900_000)
    current = Price(
        model="meta/llama-3",
        effective_from=NOW - timedelta(days=1),
        input_per_1m_micro=150_000,
        output_per_1m_micro=600_000,
        cached_input_per_1m_micro=75_000,
    )
    future = Price(model="meta/llama-3", effective_from=NOW + timedelta(days=5), input_per_1m_micro=1)
    for price in (old, current, future):
        await harness.registry.put_price(price)
    return harness


async def test_the_list_shows_every_model_with_its_facts(filled: AdminHarness, admin: Browser) -> None:
    response = await admin.get("/ui/models")
    assert response.status_code == 200
    html = response.text
    assert 'id="models"' in html
    assert 'id="new-model"' in html
    row = html.split('<tr data-model="meta/llama-3">')[1].split("</tr>")[0]
    assert "<code>llama</code>" in row
    assert "Chat model" in row
    assert '<code class="url">http://10.0.0.1:8000/v1</code>' in row
    assert "weight 3 · priority 0" in row
    assert "weight 1 · priority 1" in row
    assert "Balancing: ring hash on x-session-id" in row
    assert "Retries: 2 retries on" in row
    assert "<code>openai-key</code>" in row
    assert '<span class="muted">input</span> 0.15</li>' in row
    assert '<span class="muted">output</span> 0.60</li>' in row
    assert '<span class="muted">cached</span> 0.075</li>' in row
    small = html.split('<tr data-model="small">')[1].split("</tr>")[0]
    assert "no price" in small
    assert 'href="/ui/models/meta/llama-3/edit"' in html


async def test_an_empty_list_says_so(admin: Browser) -> None:
    html = (await admin.get("/ui/models")).text
    assert 'class="empty"' in html
    assert 'id="models"' not in html


async def test_the_new_form_has_blank_rows_and_a_link_to_more(filled: AdminHarness, admin: Browser) -> None:
    html = (await admin.get("/ui/models/new")).text
    assert 'name="backends.1.base_url"' in html
    assert 'name="backends.2.base_url"' not in html
    assert 'href="/ui/models/new?rows=4"' in html
    assert "&#34;least_request&#34;" in html  # the default traffic policy, as JSON
    assert 'value="openai-key"' in html
    more = (await admin.get("/ui/models/new?rows=4")).text
    assert 'name="backends.3.base_url"' in more


async def test_create_stores_the_model_and_skips_blank_rows(filled: AdminHarness, admin: Browser) -> None:
    response = await admin.post("/ui/models", NEW_MODEL)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/ui/models?done=created"
    assert "Model created." in (await admin.get(response.headers["location"])).text
    model = (await filled.registry.snapshot()).spec.model("mistral")
    assert model is not None
    assert [(b.name, b.base_url, b.weight, b.priority, b.provider.value) for b in model.backends] == [
        ("one", "http://10.1.0.1:8000/v1", 2, 0, "vllm"),
        ("two", "http://10.1.0.2:8000/v1", 1, 1, "openai-compatible"),
    ]
    assert model.aliases == ("mistral-7b",)
    assert model.owned_by == "acme"
    assert model.upstream_credentials == ("openai-key",)
    assert model.traffic.retry == RetryPolicy(attempts=4)
    assert model.cache is not None
    assert model.cache.enabled is False
    assert ("ada", "model.put", "mistral") in filled.audit.actions()


async def test_a_bad_backend_value_is_shown_on_its_own_row(filled: AdminHarness, admin: Browser) -> None:
    data = {**NEW_MODEL, "backends.2.base_url": "ftp://nowhere", "backends.0.weight": "0"}
    response = await admin.post("/ui/models", data)
    assert response.status_code == 422
    # row 2 is the second backend kept (row 1 is blank): the message stays on row 2
    assert "base_url must start with http:// or https://" in field_block(response.text, "backends.2.base_url")
    assert "greater than or equal to 1" in field_block(response.text, "backends.0.weight")
    assert "at least 1 item" not in response.text
    assert 'value="ftp://nowhere"' in response.text
    assert (await filled.registry.snapshot()).spec.model("mistral") is None
    assert filled.audit.actions() == []


async def test_invalid_traffic_json_is_shown_next_to_the_textarea(
    filled: AdminHarness, admin: Browser
) -> None:
    response = await admin.post("/ui/models", {**NEW_MODEL, "traffic": '{"retry": {"attempts": 4'})
    assert response.status_code == 422
    block = field_block(response.text, "traffic")
    assert "Not valid JSON" in block
    assert "line 1" in block
    assert (await filled.registry.snapshot()).spec.model("mistral") is None


async def test_a_bad_traffic_value_names_its_path(filled: AdminHarness, admin: Browser) -> None:
    traffic = json.dumps({"retry": {"attempts": 99}, "timeouts": {"idle_s": "soon"}})
    response = await admin.post("/ui/models", {**NEW_MODEL, "traffic": traffic})
    assert response.status_code == 422
    block = field_block(response.text, "traffic")
    assert "retry.attempts: Input should be less than or equal to 10" in block
    assert (await filled.registry.snapshot()).spec.model("mistral") is None


async def test_no_backend_at_all_is_reported_on_the_backends(filled: AdminHarness, admin: Browser) -> None:
    data = {k: v for k, v in NEW_MODEL.items() if not k.startswith("backends.")}
    response = await admin.post("/ui/models", data)
    assert response.status_code == 422
    section = response.text.split('id="backends"')[1].split("</fieldset>")[0]
    assert "Add at least one backend" in section


async def test_a_registry_conflict_is_shown_at_the_top(filled: AdminHarness, admin: Browser) -> None:
    response = await admin.post("/ui/models", {**NEW_MODEL, "aliases": "small"})
    assert response.status_code == 422
    top = response.text.split('id="model-form"')[0]
    assert "name &#39;small&#39; is used by both" in top
    assert (await filled.registry.snapshot()).spec.model("mistral") is None


async def test_a_taken_name_is_refused_next_to_the_name(filled: AdminHarness, admin: Browser) -> None:
    response = await admin.post("/ui/models", {**NEW_MODEL, "name": "small"})
    assert response.status_code == 422
    assert "already exists" in field_block(response.text, "name")


async def test_update_prefills_the_form_and_replaces_the_model(filled: AdminHarness, admin: Browser) -> None:
    form = (await admin.get("/ui/models/meta/llama-3/edit")).text
    assert 'value="http://10.0.0.2:8000/v1"' in field_block(form, "backends.1.base_url")
    assert 'name="backends.3.name"' in form
    assert 'name="backends.4.name"' not in form
    assert "x-session-id" in field_block(form, "traffic")
    assert "org-1" in field_block(form, "upstream_headers")
    assert 'value="openai-key" checked' in form
    data = {**NEW_MODEL, "name": "ignored", "upstream_credentials": []}
    response = await admin.post("/ui/models/meta/llama-3", data)
    assert response.status_code == 303, response.text
    spec = (await filled.registry.snapshot()).spec
    model = spec.model("meta/llama-3")
    assert model is not None
    assert [b.name for b in model.backends] == ["one", "two"]
    assert model.upstream_credentials == ()
    assert spec.model("ignored") is None
    assert ("ada", "model.put", "meta/llama-3") in filled.audit.actions()


async def test_delete_removes_the_model(filled: AdminHarness, admin: Browser) -> None:
    response = await admin.post("/ui/models/meta/llama-3/delete", {"delete": "meta/llama-3"})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/models?done=deleted"
    assert (await filled.registry.snapshot()).spec.model("meta/llama-3") is None
    assert ("ada", "model.remove", "meta/llama-3") in filled.audit.actions()
    assert (await admin.post("/ui/models/nope/delete", {"delete": "nope"})).status_code == 404


async def test_saving_a_model_whose_name_ends_in_delete_does_not_delete_another(
    filled: AdminHarness, admin: Browser
) -> None:
    await filled.registry.put_model(OTHER.model_copy(update={"name": "small/delete"}))
    response = await admin.post("/ui/models/small/delete", {**NEW_MODEL, "description": "kept"})
    assert response.status_code == 303
    spec = (await filled.registry.snapshot()).spec
    assert spec.model("small") is not None
    edited = spec.model("small/delete")
    assert edited is not None
    assert edited.description == "kept"


async def test_a_viewer_sees_the_list_without_forms_and_cannot_post(
    filled: AdminHarness, viewer: Browser
) -> None:
    html = (await viewer.get("/ui/models")).text
    assert 'data-model="meta/llama-3"' in html
    assert not has_form_post(html)
    assert 'id="new-model"' not in html
    assert "/edit" not in html
    assert (await viewer.get("/ui/models/new")).status_code == 403
    assert (await viewer.get("/ui/models/small/edit")).status_code == 403
    for path in ("/ui/models", "/ui/models/small", "/ui/models/small/delete"):
        assert (await viewer.post(path, {**NEW_MODEL, "delete": "small"})).status_code == 403
    assert (await filled.registry.snapshot()).spec.model("small") is not None
    assert filled.audit.actions() == []


async def test_a_tenant_user_gets_403_everywhere(app: FastAPI, filled: AdminHarness) -> None:
    async with browser(app, filled, "tenant") as tenant:
        for path in ("/ui/models", "/ui/models/new", "/ui/models/small/edit"):
            assert (await tenant.get(path)).status_code == 403
        for path in ("/ui/models", "/ui/models/small", "/ui/models/small/delete"):
            assert (await tenant.post(path, {**NEW_MODEL, "delete": "small"})).status_code == 403


async def test_a_post_without_the_csrf_token_is_403(filled: AdminHarness, admin: Browser) -> None:
    for path in ("/ui/models", "/ui/models/small", "/ui/models/small/delete"):
        assert (await admin.post(path, {**NEW_MODEL, "delete": "small"}, csrf=False)).status_code == 403
    assert (await filled.registry.snapshot()).spec.model("small") is not None
    assert filled.audit.actions() == []

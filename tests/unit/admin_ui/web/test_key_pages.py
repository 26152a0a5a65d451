"""Key actions on the tenant page: create (the secret shown exactly once), revoke, rotate; field errors;
a tenant user on its own keys only; viewers and forged posts refused; every change audited."""

import re
from datetime import timedelta

import httpx
import pytest

from control_plane.model import ApiKey, hash_secret
from tests.support.fakes import AdminHarness
from tests.support.tenant_pages import seed, text_of
from tests.support.ui_pages import UI_NOW, sign_in


@pytest.fixture(autouse=True)
async def seeded(harness: AdminHarness) -> None:
    await seed(harness)


def _secret(html: str) -> str:
    match = re.search(r'<code id="key-secret">([^<]+)</code>', html)
    assert match is not None, html
    return match.group(1)


async def _keys(harness: AdminHarness, tenant: str) -> list[ApiKey]:
    return await harness.keys.list(tenant)


async def test_create_shows_the_secret_once(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    csrf = await sign_in(client)
    page = (await client.get("/ui/tenants/acme")).text
    assert 'id="new-key"' in page
    assert 'id="create-key"' in page
    form = {"csrf": csrf, "name": "prod", "expires_days": "30", "allowed_models": ""}
    response = await client.post("/ui/tenants/acme/keys", data=form)
    assert response.status_code == 200
    secret = _secret(response.text)
    (key,) = await _keys(harness, "acme")
    assert key.secret_hash == hash_secret(secret)
    assert key.name == "prod"
    assert key.expires_at == UI_NOW + timedelta(days=30)
    assert text_of(response.text, "key-id") == key.id
    assert '<button type="button" id="copy-secret" data-copy="key-secret"' in response.text
    assert "will not be shown again" in response.text
    assert 'href="/ui/tenants/acme#keys"' in response.text
    after = await client.get("/ui/tenants/acme")
    assert secret not in after.text
    assert f'data-key="{key.id}"' in after.text
    row = re.search(rf'<tr data-key="{key.id}">(.*?)</tr>', after.text, re.S)
    assert row is not None
    assert '<td class="state"><span class="badge ok">active</span></td>' in row.group(1)
    assert f'id="revoke-{key.id}"' in after.text
    assert f'id="rotate-{key.id}"' in after.text
    assert harness.audit.actions() == [("ada", "key.create", key.id)]


async def test_bad_key_input_is_shown_next_to_the_fields(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client)
    form = {"csrf": csrf, "name": "x", "expires_days": "soon"}
    response = await client.post("/ui/tenants/acme/keys", data=form)
    assert response.status_code == 422
    assert "whole number of days" in text_of(response.text, "f-expires-days-error")
    assert 'value="soon"' in response.text
    unknown = await client.post("/ui/tenants/acme/keys", data={"csrf": csrf, "allowed_models": "nope"})
    assert unknown.status_code == 422
    assert "unknown model" in unknown.text
    assert await _keys(harness, "acme") == []
    assert harness.audit.actions() == []


async def test_revoke(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    key, _ = await harness.keys.create("acme", "old")
    csrf = await sign_in(client)
    response = await client.post(f"/ui/tenants/acme/keys/{key.id}/revoke", data={"csrf": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/tenants/acme?done=revoked#keys"
    assert (await harness.keys.get(key.id)).revoked_at == UI_NOW
    page = (await client.get(response.headers["location"])).text
    assert "Key revoked" in text_of(page, "flash")
    row = re.search(rf'<tr data-key="{key.id}">(.*?)</tr>', page, re.S)
    assert row is not None
    assert ">revoked<" in row.group(1)
    assert f'id="revoke-{key.id}"' not in page
    assert f'id="rotate-{key.id}"' not in page
    assert harness.audit.actions() == [("ada", "key.revoke", key.id)]


async def test_rotate_shows_the_new_secret_and_keeps_the_old_key_for_the_grace(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    old, _ = await harness.keys.create("acme", "svc")
    csrf = await sign_in(client)
    response = await client.post(
        f"/ui/tenants/acme/keys/{old.id}/rotate", data={"csrf": csrf, "grace_s": "600"}
    )
    assert response.status_code == 200
    secret = _secret(response.text)
    new_id = text_of(response.text, "key-id")
    assert (await harness.keys.get(new_id)).secret_hash == hash_secret(secret)
    retired = await harness.keys.get(old.id)
    assert retired.rotated_to == new_id
    assert retired.expires_at == UI_NOW + timedelta(seconds=600)
    assert old.id in text_of(response.text, "previous-key")
    page = (await client.get("/ui/tenants/acme")).text
    assert secret not in page
    row = re.search(rf'<tr data-key="{old.id}">(.*?)</tr>', page, re.S)
    assert row is not None
    assert ">rotated<" in row.group(1)
    assert harness.audit.actions() == [("ada", "key.rotate", old.id)]
    again = await client.post(f"/ui/tenants/acme/keys/{old.id}/rotate", data={"csrf": csrf})
    assert again.status_code == 409
    assert "already rotated" in again.text
    bad = await client.post(f"/ui/tenants/acme/keys/{new_id}/rotate", data={"csrf": csrf, "grace_s": "-1"})
    assert bad.status_code == 422
    assert len(harness.audit.actions()) == 1


async def test_a_tenant_user_manages_its_own_keys_only(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    theirs, _ = await harness.keys.create("globex", "theirs")
    csrf = await sign_in(client, "tina")
    created = await client.post("/ui/tenants/acme/keys", data={"csrf": csrf, "name": "mine"})
    assert created.status_code == 200
    mine = text_of(created.text, "key-id")
    assert (await client.post(f"/ui/tenants/acme/keys/{mine}/revoke", data={"csrf": csrf})).status_code == 303
    # Another tenant's key: 404 through its tenant's path and through the user's own tenant's path.
    for path in (
        f"/ui/tenants/globex/keys/{theirs.id}/revoke",
        f"/ui/tenants/globex/keys/{theirs.id}/rotate",
        f"/ui/tenants/acme/keys/{theirs.id}/revoke",
        f"/ui/tenants/acme/keys/{theirs.id}/rotate",
        "/ui/tenants/acme/keys/key_0000000000000000/revoke",
    ):
        assert (await client.post(path, data={"csrf": csrf})).status_code == 404, path
    assert (await client.post("/ui/tenants/globex/keys", data={"csrf": csrf})).status_code == 404
    assert (await harness.keys.get(theirs.id)).revoked_at is None
    assert await _keys(harness, "globex") == [theirs]
    assert harness.audit.actions() == [("tina", "key.create", mine), ("tina", "key.revoke", mine)]


async def test_a_viewer_sees_keys_but_no_forms_and_gets_403(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    key, _ = await harness.keys.create("acme", "k")
    csrf = await sign_in(client, "vic")
    page = (await client.get("/ui/tenants/acme")).text
    assert f'data-key="{key.id}"' in page
    assert f'id="revoke-{key.id}"' not in page
    assert 'id="new-key"' not in page
    for path in (
        "/ui/tenants/acme/keys",
        f"/ui/tenants/acme/keys/{key.id}/revoke",
        f"/ui/tenants/acme/keys/{key.id}/rotate",
    ):
        assert (await client.post(path, data={"csrf": csrf})).status_code == 403, path
    assert await _keys(harness, "acme") == [key]
    assert harness.audit.actions() == []


async def test_key_posts_without_csrf_are_403(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    key, _ = await harness.keys.create("acme", "k")
    await sign_in(client, "tina")
    for path in (
        "/ui/tenants/acme/keys",
        f"/ui/tenants/acme/keys/{key.id}/revoke",
        f"/ui/tenants/acme/keys/{key.id}/rotate",
    ):
        assert (await client.post(path, data={"name": "x"})).status_code == 403, path
    assert await _keys(harness, "acme") == [key]
    assert harness.audit.actions() == []


async def test_keys_of_an_unknown_tenant_are_404(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    assert (await client.post("/ui/tenants/nope/keys", data={"csrf": csrf})).status_code == 404

"""/ui/users: the list, creating a user (with errors next to the fields), disabling, enabling, a new
password and deleting — each of the last ending the user's sessions — the self-protection, and guards."""

import dataclasses

import httpx
from fastapi import FastAPI

from admin_ui.app import create_app
from admin_ui.web.context import WebServices
from control_plane.model import AdminRole
from tests.support.fakes import ADMIN_TOKEN, AdminHarness
from tests.support.ops_ui import add_tenants, browser_for
from tests.support.ui_pages import UI_BASE, UI_PASSWORD, page_csrf, sign_in

NEW_PASSWORD = "a brand new passphrase"


def _form(csrf: str, **values: str) -> dict[str, str]:
    base = {
        "username": "vic",
        "role": "viewer",
        "tenant": "",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    return {"csrf": csrf, **base, **values}


async def test_the_list_shows_users_without_secrets(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await add_tenants(harness, "acme")
    await harness.users.create("tina", UI_PASSWORD, AdminRole.TENANT, "acme")
    await harness.users.create("vera", UI_PASSWORD, AdminRole.VIEWER)
    await harness.users.set_disabled("vera", True)
    await sign_in(client)
    response = await client.get("/ui/users")
    assert response.status_code == 200
    html = response.text
    assert "<h1>UI users</h1>" in html
    ada = html.split('<tr data-user="ada">')[1].split("</tr>")[0]
    assert "(you)" in ada
    assert 'id="disable-ada"' not in ada
    assert 'id="delete-ada"' not in ada
    tina = html.split('<tr data-user="tina">')[1].split("</tr>")[0]
    assert "<code>acme</code>" in tina
    assert "tenant" in tina
    assert "2026-11-21 12:00:00 UTC" in tina
    assert 'id="disable-tina"' in tina
    vera = html.split('<tr data-user="vera">')[1].split("</tr>")[0]
    assert '<span class="badge warn">disabled</span>' in vera
    assert 'id="enable-vera"' in vera
    assert 'id="create-user"' in html
    assert "$argon2" not in html
    assert UI_PASSWORD not in html


async def test_creating_a_user(app: FastAPI, client: httpx.AsyncClient, harness: AdminHarness) -> None:
    csrf = await sign_in(client)
    response = await client.post("/ui/users", data=_form(csrf, username="  Vic "))
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/users?done=created"
    user = await harness.users.get("vic")
    assert user.role is AdminRole.VIEWER
    assert user.tenant is None
    assert ("ada", "user.create", "vic") in harness.audit.actions()
    page = (await client.get(response.headers["location"])).text
    assert "The user was created" in page
    assert '<tr data-user="vic">' in page
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=UI_BASE) as vic:
        await sign_in(vic, "vic", NEW_PASSWORD)


async def test_passwords_are_kept_as_typed(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Names are trimmed; a password's spaces are part of it (never stripped)."""
    csrf = await sign_in(client)
    spaced = f"  {NEW_PASSWORD}  "
    response = await client.post("/ui/users", data=_form(csrf, password=spaced, confirm=spaced))
    assert response.status_code == 303
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=UI_BASE) as vic:
        await sign_in(vic, "vic", spaced)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=UI_BASE) as vic:
        page = await vic.get("/ui/login")
        form = {"username": "vic", "password": NEW_PASSWORD, "csrf": page_csrf(page.text)}
        assert (await vic.post("/ui/login", data=form)).status_code != 303  # the trimmed one is wrong


async def test_creating_a_tenant_user(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await add_tenants(harness, "acme")
    csrf = await sign_in(client)
    response = await client.post("/ui/users", data=_form(csrf, username="tina", role="tenant", tenant="acme"))
    assert response.status_code == 303
    assert (await harness.users.get("tina")).tenant == "acme"
    ignored = await client.post("/ui/users", data=_form(csrf, username="otto", role="admin", tenant="acme"))
    assert ignored.status_code == 303
    assert (await harness.users.get("otto")).tenant is None


async def test_bad_input_comes_back_next_to_the_fields(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client)
    cases = [
        (_form(csrf, password="short", confirm="short"), "password", "at least 12 characters"),
        (_form(csrf, confirm="something else entirely"), "confirm", "The two passwords differ."),
        (_form(csrf, username="Not Valid!"), "username", "lower-case letters"),
        (_form(csrf, username="ada"), "username", "already exists"),
        (_form(csrf, role="tenant"), "tenant", "needs the tenant"),
        (_form(csrf, role="tenant", tenant="nope"), "tenant", "There is no such tenant."),
        (_form(csrf, role="root"), "role", "Choose one of the roles."),
    ]
    for data, field, message in cases:
        response = await client.post("/ui/users", data=data)
        assert response.status_code == 422, (field, response.text)
        html = response.text
        error = html.split(f'id="f-{field}-error"')[1].split("</small>")[0]
        assert message in error, (field, error)
        assert "Please correct the fields marked below." in html
        assert data["password"] not in html.replace('name="password"', "")
    assert [u.username for u in await harness.users.list()] == ["ada"]
    kept = await client.post("/ui/users", data=_form(csrf, username="vic", role="admin", confirm="x" * 20))
    assert 'value="vic"' in kept.text
    assert '<option value="admin" selected>' in kept.text


async def test_disabling_ends_the_sessions_and_enabling_restores_sign_in(
    app: FastAPI, client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client)
    async with browser_for(app, harness, "vera", AdminRole.VIEWER) as (viewer, _):
        assert (await viewer.get("/ui/users")).status_code == 200
        response = await client.post("/ui/users/vera/disable", data={"csrf": csrf})
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/users?done=disabled"
        assert (await harness.users.get("vera")).disabled
        ended = await viewer.get("/ui/users")
        assert ended.status_code == 303
        assert ended.headers["location"].startswith("/ui/login")
    enable = await client.post("/ui/users/vera/enable", data={"csrf": csrf})
    assert enable.status_code == 303
    assert not (await harness.users.get("vera")).disabled
    actions = harness.audit.actions()
    assert ("ada", "user.disable", "vera") in actions
    assert ("ada", "user.enable", "vera") in actions


async def test_a_new_password_ends_the_sessions(
    app: FastAPI, client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client)
    async with browser_for(app, harness, "vera", AdminRole.VIEWER) as (viewer, _):
        page = await client.get("/ui/users/vera")
        assert page.status_code == 200
        assert 'id="set-password"' in page.text
        mismatch = await client.post(
            "/ui/users/vera/password", data={"csrf": csrf, "password": NEW_PASSWORD, "confirm": "other"}
        )
        assert mismatch.status_code == 422
        assert "The two passwords differ." in mismatch.text
        short = await client.post(
            "/ui/users/vera/password", data={"csrf": csrf, "password": "x", "confirm": "x"}
        )
        assert short.status_code == 422
        assert "at least 12 characters" in short.text
        assert (await viewer.get("/ui/users")).status_code == 200  # still signed in
        ok = await client.post(
            "/ui/users/vera/password", data={"csrf": csrf, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        )
        assert ok.status_code == 303
        assert ok.headers["location"] == "/ui/users/vera?done=password"
        assert (await viewer.get("/ui/users")).status_code == 303
    assert await harness.users.authenticate("vera", NEW_PASSWORD) is not None
    assert ("ada", "user.set_password", "vera") in harness.audit.actions()


async def test_deleting_ends_the_sessions(
    app: FastAPI, client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client)
    async with browser_for(app, harness, "vera", AdminRole.VIEWER) as (viewer, _):
        response = await client.post("/ui/users/vera/delete", data={"csrf": csrf})
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/users?done=deleted"
        assert (await viewer.get("/ui/users")).status_code == 303
    assert [u.username for u in await harness.users.list()] == ["ada"]
    assert ("ada", "user.delete", "vera") in harness.audit.actions()
    assert (await client.post("/ui/users/vera/delete", data={"csrf": csrf})).status_code == 404
    assert (await client.get("/ui/users/vera")).status_code == 404


async def test_an_admin_cannot_disable_or_delete_themselves(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    csrf = await sign_in(client)
    for action in ("disable", "delete"):
        response = await client.post(f"/ui/users/ada/{action}", data={"csrf": csrf})
        assert response.status_code == 409
        assert "You cannot disable or delete your own account" in response.text
    user = await harness.users.get("ada")
    assert not user.disabled
    assert (await client.get("/ui/users")).status_code == 200  # still signed in


async def test_viewers_read_without_forms_and_may_not_post(app: FastAPI, harness: AdminHarness) -> None:
    async with browser_for(app, harness, "vera", AdminRole.VIEWER) as (viewer, csrf):
        html = (await viewer.get("/ui/users")).text
        assert '<tr data-user="ada">' in html
        assert 'id="create-user"' not in html
        assert 'id="delete-ada"' not in html
        detail = (await viewer.get("/ui/users/ada")).text
        assert 'id="set-password"' not in detail
        for path in ("/ui/users/ada/disable", "/ui/users/ada/delete", "/ui/users/ada/password"):
            assert (await viewer.post(path, data={"csrf": csrf})).status_code == 403
        assert (await viewer.post("/ui/users", data=_form(csrf))).status_code == 403
    assert not (await harness.users.get("ada")).disabled


async def test_tenant_users_get_403_everywhere(app: FastAPI, harness: AdminHarness) -> None:
    await add_tenants(harness, "acme")
    async with browser_for(app, harness, "tina", AdminRole.TENANT, "acme") as (tenant, csrf):
        for path in ("/ui/users", "/ui/users/ada", "/ui/cache", "/ui/status", "/ui/audit"):
            assert (await tenant.get(path)).status_code == 403, path
        assert (await tenant.post("/ui/users", data=_form(csrf))).status_code == 403
        assert (await tenant.post("/ui/users/ada/disable", data={"csrf": csrf})).status_code == 403


async def test_posts_without_the_csrf_token_are_403(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await harness.users.create("vera", UI_PASSWORD, AdminRole.VIEWER)
    await sign_in(client)
    assert (
        await client.post("/ui/users", data={k: v for k, v in _form("").items() if k != "csrf"})
    ).status_code == 403
    assert (
        await client.post("/ui/users/vera/delete", data={"csrf": "wrong-wrong-wrong-wrong"})
    ).status_code == 403
    assert [u.username for u in await harness.users.list()] == ["ada", "vera"]


async def test_without_a_users_service_the_page_says_so(harness: AdminHarness, web: WebServices) -> None:
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
        app.state.services = dataclasses.replace(app.state.services, users=None)
        response = await client.get("/ui/users")
        assert response.status_code == 200
        assert "UI users are not configured on this server." in response.text
        assert (await client.post("/ui/users", data=_form(csrf))).status_code == 503

"""The admin UI's pages over the harness fakes (users, registry) and a real embedded Valkey (sessions,
throttle): sign-in with its CSRF token and throttle, the dashboard, sign-out, and the security headers."""

import re
from datetime import UTC, datetime

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from admin_ui.web.context import WebServices
from admin_ui.web.csrf import LoginCsrf
from admin_ui.web.sessions import RedisSessionStore
from admin_ui.web.throttle import LoginThrottle
from control_plane.keys import admin_login_failures
from control_plane.launcher.readiness import free_port
from control_plane.model import AdminRole, Plan, Tenant
from control_plane.redis_client import connect
from tests.support.fakes import ADMIN_TOKEN, AdminHarness

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
BASE = "http://admin"


@pytest.fixture
def web(redis_client: aioredis.Redis) -> WebServices:
    return WebServices(
        sessions=RedisSessionStore(redis_client, idle_ttl_s=3600, absolute_ttl_s=7200),
        throttle=LoginThrottle(redis_client, max_failures=5, window_s=900),
        login_csrf=LoginCsrf(b"s" * 32),
        cookie_secure=False,
    )


def _hidden_csrf(html: str) -> str:
    match = re.search(r'<input type="hidden" name="csrf" value="([^"]+)">', html)
    assert match is not None, html
    return match.group(1)


def _set_cookies(response: httpx.Response, name: str) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]


async def _add_tenant(harness: AdminHarness, tenant: str) -> None:
    await harness.registry.put_plan(Plan(name="basic"))
    await harness.registry.put_tenant(Tenant(id=tenant, plan="basic"))


async def _sign_in(
    client: httpx.AsyncClient, username: str = "ada", password: str = PASSWORD
) -> httpx.Response:
    page = await client.get("/ui/login")
    form = {"username": username, "password": password, "csrf": _hidden_csrf(page.text)}
    return await client.post("/ui/login", data=form)


async def test_login_page_has_the_form_and_sets_the_csrf_cookie(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui/login")
    assert response.status_code == 200
    html = response.text
    assert '<form id="login" method="post" action="/ui/login">' in html
    assert '<input name="username" id="username"' in html
    assert '<input type="password" name="password" id="password"' in html
    assert '<button type="submit" id="sign-in">Sign in</button>' in html
    token = _hidden_csrf(html)
    (cookie,) = _set_cookies(response, "tollway_login_csrf")
    assert cookie.startswith(f"tollway_login_csrf={token};")
    lowered = cookie.lower()
    for attribute in ("httponly", "samesite=strict", "path=/ui", "max-age=3600"):
        assert attribute in lowered
    assert "secure" not in lowered.replace("samesite", "")  # cookie_secure=False in these tests
    assert 'id="user"' not in html  # signed out: no header with a user


async def test_cookies_are_secure_when_configured(
    harness: AdminHarness, web: WebServices, app: FastAPI
) -> None:
    app.state.web = WebServices(web.sessions, web.throttle, web.login_csrf, cookie_secure=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://admin") as c:
        (cookie,) = _set_cookies(await c.get("/ui/login"), "tollway_login_csrf")
        assert "; secure" in cookie.lower()
        response = await _sign_in(c)
        (session_cookie,) = _set_cookies(response, "tollway_session")
        assert "; secure" in session_cookie.lower()


async def test_wrong_password_is_401_with_a_message_and_is_counted(
    client: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    response = await _sign_in(client, password="not the password")
    assert response.status_code == 401
    assert '<p class="error" role="alert">Wrong username or password.</p>' in response.text
    assert not _set_cookies(response, "tollway_session")
    assert int(await redis_client.get(admin_login_failures("ada"))) == 1
    unknown = await _sign_in(client, username="nobody")
    assert unknown.status_code == 401
    assert "Wrong username or password." in unknown.text
    assert PASSWORD not in response.text + unknown.text


@pytest.mark.parametrize("form_csrf", ["", "mismatched", None])
async def test_a_missing_or_mismatched_csrf_token_is_400(
    client: httpx.AsyncClient, form_csrf: str | None
) -> None:
    page = await client.get("/ui/login")
    other = await client.get("/ui/login")  # the cookie now holds a newer token than `page` shows
    form = {"username": "ada", "password": PASSWORD}
    if form_csrf == "mismatched":
        form["csrf"] = _hidden_csrf(page.text)
        assert _hidden_csrf(other.text) != form["csrf"]
    elif form_csrf is not None:
        form["csrf"] = form_csrf
    response = await client.post("/ui/login", data=form)
    assert response.status_code == 400
    assert 'class="error" role="alert"' in response.text
    assert not _set_cookies(response, "tollway_session")


async def test_a_csrf_token_without_its_cookie_is_400(client: httpx.AsyncClient) -> None:
    token = _hidden_csrf((await client.get("/ui/login")).text)
    client.cookies.clear()
    response = await client.post("/ui/login", data={"username": "ada", "password": PASSWORD, "csrf": token})
    assert response.status_code == 400


async def test_success_sets_the_session_cookie_and_redirects_to_the_dashboard(
    client: httpx.AsyncClient,
) -> None:
    response = await _sign_in(client, username="  ADA ")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/"
    (cookie,) = _set_cookies(response, "tollway_session")
    lowered = cookie.lower()
    for attribute in ("httponly", "samesite=strict", "path=/ui"):
        assert attribute in lowered
    assert "max-age" not in lowered  # a browser-session cookie
    assert "expires" not in lowered
    (cleared,) = _set_cookies(response, "tollway_login_csrf")
    assert "max-age=0" in cleared.lower()


async def test_the_dashboard_without_a_session_redirects_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui/")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    client.cookies.set("tollway_session", "forged")
    assert (await client.get("/ui/")).status_code == 303


async def test_the_dashboard_with_a_session_shows_the_user_and_figures(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await _add_tenant(harness, "acme")
    await _sign_in(client)
    response = await client.get("/ui/")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Dashboard</h1>" in html
    assert '<span id="user">ada</span>' in html
    assert ">admin</span>" in html
    assert '<form id="logout" method="post" action="/ui/logout">' in html
    assert '<button type="submit" id="sign-out">Sign out</button>' in html
    assert re.search(r'<span class="value">1</span><span class="label">Tenants</span>', html)
    assert re.search(r'<span class="value">0</span><span class="label">Models</span>', html)


async def test_a_tenant_user_signs_in_and_is_sent_to_their_tenant(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await _add_tenant(harness, "acme")
    await harness.users.create("acme-ops", PASSWORD, AdminRole.TENANT, "acme")
    assert (await _sign_in(client, username="acme-ops")).status_code == 303
    response = await client.get("/ui/")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/tenants/acme"


async def test_logout_needs_the_session_csrf_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/ui/logout", data={"csrf": "x" * 43})).status_code == 403  # signed out
    await _sign_in(client)
    dashboard = await client.get("/ui/")
    assert (await client.post("/ui/logout")).status_code == 403
    assert (await client.post("/ui/logout", data={"csrf": "x" * 43})).status_code == 403
    assert (await client.get("/ui/")).status_code == 200  # still signed in
    response = await client.post("/ui/logout", data={"csrf": _hidden_csrf(dashboard.text)})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    (cleared,) = _set_cookies(response, "tollway_session")
    assert "max-age=0" in cleared.lower()


async def test_logout_ends_the_session_in_the_store(client: httpx.AsyncClient, web: WebServices) -> None:
    await _sign_in(client)
    cookie = client.cookies["tollway_session"]
    dashboard = await client.get("/ui/")
    await client.post("/ui/logout", data={"csrf": _hidden_csrf(dashboard.text)})
    assert await web.sessions.load(cookie) is None
    client.cookies.set("tollway_session", cookie)  # a copy of the old cookie
    response = await client.get("/ui/")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"


async def test_the_sixth_attempt_after_five_failures_is_429(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await _sign_in(client, password="guess guess guess")).status_code == 401
    response = await _sign_in(client)  # even the right password waits
    assert response.status_code == 429
    assert "Too many attempts; try again in 15 minutes" in response.text
    assert 0 < int(response.headers["retry-after"]) <= 900
    assert not _set_cookies(response, "tollway_session")


async def test_a_disabled_user_cannot_sign_in(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await harness.users.set_disabled("ada", True)
    response = await _sign_in(client)
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert not _set_cookies(response, "tollway_session")


@pytest.mark.parametrize("path", ["/ui/login", "/ui/", "/ui/static/tollway.css"])
async def test_security_headers_on_ui_responses(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    csp = response.headers["content-security-policy"]
    assert csp.startswith("default-src 'self'; img-src 'self' data:; frame-ancestors 'none';")
    assert "form-action 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    expected_cache = "no-cache" if "/static/" in path else "no-store"
    assert response.headers["cache-control"] == expected_cache


async def test_pages_have_no_inline_scripts_or_styles_and_link_the_stylesheet(
    client: httpx.AsyncClient,
) -> None:
    await _sign_in(client)
    for path in ("/ui/login", "/ui/"):
        html = (await client.get(path)).text
        scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S)
        assert scripts
        assert all(body.strip() == "" for body in scripts)  # only src= scripts, no inline
        assert all(src.startswith("/ui/static/") for src in re.findall(r'<script src="([^"]+)"', html))
        assert "<style" not in html
        assert "style=" not in html
        assert '<link rel="stylesheet" href="/ui/static/tollway.css">' in html
    css = await client.get("/ui/static/tollway.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


async def test_usernames_are_escaped(client: httpx.AsyncClient) -> None:
    response = await _sign_in(client, username='<script>alert("x")</script>')
    assert response.status_code == 401
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


async def test_the_json_api_keeps_working_and_has_no_ui_routes(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert (await client.get("/admin/v1/models", headers=auth)).status_code == 200
    assert (await client.get("/admin/v1/models")).status_code == 401
    assert "content-security-policy" not in (await client.get("/healthz")).headers
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/ui")]


async def test_without_web_services_there_is_no_ui(harness: AdminHarness) -> None:
    transport = httpx.ASGITransport(app=harness.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        assert (await c.get("/ui/login")).status_code == 404


async def test_an_unreachable_session_store_is_an_html_503(app: FastAPI, web: WebServices) -> None:
    dead = connect(f"redis://127.0.0.1:{free_port()}/0")
    app.state.web = WebServices(
        RedisSessionStore(dead, idle_ttl_s=3600, absolute_ttl_s=7200),
        web.throttle,
        web.login_csrf,
        cookie_secure=False,
    )
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
            c.cookies.set("tollway_session", "x" * 43)
            response = await c.get("/ui/")
    finally:
        await dead.aclose()
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert 'class="error" role="alert"' in response.text

"""The UI's role and CSRF guards, over a small app with one route per guard and real Redis sessions:
who may read and post what, the status each refusal gets, and that a refused post never reaches its
handler."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI
from starlette.responses import PlainTextResponse, Response

from admin_ui.web.context import SESSION_COOKIE, WebServices
from admin_ui.web.csrf import LoginCsrf
from admin_ui.web.guards import AdminForm, Operator, SignedIn, TenantForm, TenantReader, UiRoute
from admin_ui.web.sessions import RedisSessionStore, Session
from admin_ui.web.throttle import LoginThrottle
from control_plane.errors import StoreUnavailableError
from control_plane.model import AdminRole, AdminUser
from control_plane.redis_client import connect

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
async def sessions(valkey_url: str) -> AsyncIterator[RedisSessionStore]:
    client: aioredis.Redis = connect(valkey_url)
    await client.flushdb()
    yield RedisSessionStore(client, idle_ttl_s=600, absolute_ttl_s=3600)
    await client.aclose()


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def app(sessions: RedisSessionStore, calls: list[str]) -> FastAPI:
    router = APIRouter(prefix="/ui", route_class=UiRoute)

    @router.get("/me")
    async def me(session: SignedIn) -> Response:
        return PlainTextResponse(session.username)

    @router.get("/ops")
    async def ops(session: Operator) -> Response:
        return PlainTextResponse("ops")

    @router.post("/ops")
    async def change(session: AdminForm) -> Response:
        calls.append(f"ops by {session.username}")
        return PlainTextResponse("changed")

    @router.get("/tenants/{tenant_id}")
    async def tenant(tenant_id: str, session: TenantReader) -> Response:
        return PlainTextResponse(tenant_id)

    @router.post("/tenants/{tenant_id}/keys")
    async def key(tenant_id: str, session: TenantForm) -> Response:
        calls.append(f"key for {tenant_id} by {session.username}")
        return PlainTextResponse("key")

    @router.get("/down")
    async def down(session: SignedIn) -> Response:
        raise StoreUnavailableError("the store is unreachable: secret detail")

    app = FastAPI()
    app.state.web = WebServices(
        sessions=sessions,
        throttle=LoginThrottle(sessions._client, max_failures=5, window_s=60),
        login_csrf=LoginCsrf(b"k" * 32),
        cookie_secure=False,
    )
    app.include_router(router)
    return app


async def _client(
    app: FastAPI, sessions: RedisSessionStore, role: AdminRole, tenant: str | None = None
) -> tuple[httpx.AsyncClient, Session]:
    user = AdminUser(
        username=f"{role.value}-user",
        role=role,
        tenant=tenant,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$" + "a" * 40,
        created_at=NOW,
    )
    cookie, session = await sessions.create(user)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://admin", cookies={SESSION_COOKIE: cookie}
    )
    return client, session


async def test_signed_out_reads_go_to_sign_in_with_the_page_to_return_to(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as c:
        response = await c.get("/ui/tenants/acme?month=2026-11")
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login?next=%2Fui%2Ftenants%2Facme%3Fmonth%3D2026-11"
        post = await c.post("/ui/ops", data={"csrf": "x"})
        assert post.status_code == 303
        assert post.headers["location"] == "/ui/login"


@pytest.mark.parametrize(
    ("role", "tenant", "expected"),
    [
        # GET /ui/ops, GET /ui/tenants/acme, GET /ui/tenants/other
        (AdminRole.ADMIN, None, (200, 200, 200)),
        (AdminRole.VIEWER, None, (200, 200, 200)),
        (AdminRole.TENANT, "acme", (403, 200, 404)),
    ],
)
async def test_reading_by_role(
    app: FastAPI, sessions: RedisSessionStore, role: AdminRole, tenant: str | None, expected: tuple[int, ...]
) -> None:
    client, _ = await _client(app, sessions, role, tenant)
    async with client:
        got = tuple(
            [
                (await client.get(path)).status_code
                for path in ("/ui/ops", "/ui/tenants/acme", "/ui/tenants/other")
            ]
        )
    assert got == expected


@pytest.mark.parametrize(
    ("role", "tenant", "expected"),
    [
        # POST /ui/ops, POST /ui/tenants/acme/keys, POST /ui/tenants/other/keys — with the right token
        (AdminRole.ADMIN, None, (200, 200, 200)),
        (AdminRole.VIEWER, None, (403, 403, 403)),
        (AdminRole.TENANT, "acme", (403, 200, 404)),
    ],
)
async def test_posting_by_role(
    app: FastAPI,
    sessions: RedisSessionStore,
    calls: list[str],
    role: AdminRole,
    tenant: str | None,
    expected: tuple[int, ...],
) -> None:
    client, session = await _client(app, sessions, role, tenant)
    form = {"csrf": session.csrf_token}
    async with client:
        got = tuple(
            [
                (await client.post(path, data=form)).status_code
                for path in ("/ui/ops", "/ui/tenants/acme/keys", "/ui/tenants/other/keys")
            ]
        )
    assert got == expected
    assert len(calls) == sum(1 for status in expected if status == 200)  # refused posts never ran


@pytest.mark.parametrize("token", [None, "", "wrong-token-wrong-token", "x" * 5000])
async def test_posts_without_the_sessions_csrf_token_are_refused(
    app: FastAPI, sessions: RedisSessionStore, calls: list[str], token: str | None
) -> None:
    client, _ = await _client(app, sessions, AdminRole.ADMIN)
    form = {} if token is None else {"csrf": token}
    async with client:
        for path in ("/ui/ops", "/ui/tenants/acme/keys"):
            response = await client.post(path, data=form)
            assert response.status_code == 403
            assert "This form expired or did not come from this site" in response.text
    assert calls == []


async def test_another_sessions_token_is_refused(
    app: FastAPI, sessions: RedisSessionStore, calls: list[str]
) -> None:
    client, _ = await _client(app, sessions, AdminRole.ADMIN)
    _, other = await _client(app, sessions, AdminRole.ADMIN)
    async with client:
        assert (await client.post("/ui/ops", data={"csrf": other.csrf_token})).status_code == 403
    assert calls == []


async def test_a_viewer_is_told_it_is_read_only(app: FastAPI, sessions: RedisSessionStore) -> None:
    client, session = await _client(app, sessions, AdminRole.VIEWER)
    async with client:
        response = await client.post("/ui/ops", data={"csrf": session.csrf_token})
    assert response.status_code == 403
    assert "read-only" in response.text
    assert 'id="user"' in response.text  # the error page keeps the header of the signed-in user


async def test_a_store_outage_is_an_html_503_without_internal_text(
    app: FastAPI, sessions: RedisSessionStore
) -> None:
    client, _ = await _client(app, sessions, AdminRole.ADMIN)
    async with client:
        response = await client.get("/ui/down")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "secret detail" not in response.text

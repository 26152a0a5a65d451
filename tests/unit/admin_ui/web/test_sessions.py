"""UI sessions on a real (embedded) Valkey, with a clock the tests move by hand."""

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from admin_ui.web.sessions import LAST_SEEN_GRANULARITY_S, RedisSessionStore, Session, session_hash
from control_plane.errors import StoreUnavailableError
from control_plane.keys import admin_session, admin_user_sessions
from control_plane.launcher.readiness import free_port
from control_plane.model.admin_user import AdminRole, AdminUser
from control_plane.redis_client import connect
from tests.support.fakes import FakeClock

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
IDLE_S = 8 * 3600
ABSOLUTE_S = 24 * 3600
HASH = "$argon2id$v=19$m=65536,t=3,p=4$" + "a" * 40


def user(username: str = "ada", role: AdminRole = AdminRole.ADMIN, tenant: str | None = None) -> AdminUser:
    return AdminUser(username=username, role=role, tenant=tenant, password_hash=HASH, created_at=NOW)


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def store(client: aioredis.Redis, clock: FakeClock) -> RedisSessionStore:
    return RedisSessionStore(client, idle_ttl_s=IDLE_S, absolute_ttl_s=ABSOLUTE_S, clock=clock)


async def test_create_then_load(store: RedisSessionStore) -> None:
    cookie, session = await store.create(user("acme-ops", AdminRole.TENANT, "acme"))
    assert len(cookie) >= 43
    assert session.username == "acme-ops"
    assert session.role is AdminRole.TENANT
    assert session.tenant == "acme"
    assert session.created_at == session.last_seen == NOW
    assert await store.load(cookie) == session


async def test_redis_keys_the_session_by_the_cookie_hash_never_the_cookie(
    store: RedisSessionStore, client: aioredis.Redis
) -> None:
    cookie, _ = await store.create(user())
    digest = hashlib.sha256(cookie.encode()).hexdigest()
    assert session_hash(cookie) == digest
    keys = {key.decode() for key in await client.keys("*")}
    assert keys == {admin_session(digest), admin_user_sessions("ada")}
    assert all(cookie not in key for key in keys)
    for key in keys:  # the cookie appears in no stored value either
        raw = await client.get(key) if key == admin_session(digest) else b" ".join(await client.smembers(key))
        assert cookie.encode() not in raw
    assert await client.ttl(admin_session(digest)) == IDLE_S


async def test_every_session_has_its_own_cookie_and_csrf_token(store: RedisSessionStore) -> None:
    first_cookie, first = await store.create(user())
    second_cookie, second = await store.create(user())
    assert first_cookie != second_cookie
    assert first.csrf_token != second.csrf_token
    assert "csrf_token" not in repr(first)


@pytest.mark.parametrize("cookie", [None, "", "not-a-session", "x" * 10_000])
async def test_unknown_cookies_load_nothing(store: RedisSessionStore, cookie: str | None) -> None:
    await store.create(user())
    assert await store.load(cookie) is None


async def test_load_slides_the_idle_ttl(
    store: RedisSessionStore, client: aioredis.Redis, clock: FakeClock
) -> None:
    cookie, _ = await store.create(user())
    key = admin_session(session_hash(cookie))
    await client.expire(key, 10)  # as if most of the idle time had passed
    assert await store.load(cookie) is not None
    assert await client.ttl(key) == IDLE_S


async def test_last_seen_is_rewritten_at_most_once_a_minute(
    store: RedisSessionStore, clock: FakeClock
) -> None:
    cookie, _ = await store.create(user())
    clock.advance(timedelta(seconds=LAST_SEEN_GRANULARITY_S - 1))
    loaded = await store.load(cookie)
    assert loaded is not None
    assert loaded.last_seen == NOW  # too soon to write
    clock.advance(timedelta(seconds=1))
    loaded = await store.load(cookie)
    assert loaded is not None
    assert loaded.last_seen == clock.now
    reloaded = await store.load(cookie)
    assert reloaded is not None
    assert reloaded.last_seen == clock.now


async def test_idle_expiry_by_the_redis_ttl(client: aioredis.Redis, clock: FakeClock) -> None:
    store = RedisSessionStore(client, idle_ttl_s=1, absolute_ttl_s=60, clock=clock)
    cookie, _ = await store.create(user())
    await asyncio.sleep(1.2)
    assert await store.load(cookie) is None


async def test_idle_expiry_by_the_clock(store: RedisSessionStore, clock: FakeClock) -> None:
    cookie, _ = await store.create(user())
    clock.advance(timedelta(seconds=IDLE_S + LAST_SEEN_GRANULARITY_S))
    assert await store.load(cookie) is None


async def test_absolute_expiry_even_when_used_all_along(
    store: RedisSessionStore, client: aioredis.Redis, clock: FakeClock
) -> None:
    cookie, _ = await store.create(user())
    key = admin_session(session_hash(cookie))
    for _ in range(ABSOLUTE_S // 3600 - 1):  # a request every hour keeps it from idling out
        clock.advance(timedelta(hours=1))
        assert await store.load(cookie) is not None
    clock.advance(timedelta(minutes=30))
    assert await store.load(cookie) is not None
    assert await client.ttl(key) == 1800  # the idle TTL is cut to what is left of the session's life
    clock.advance(timedelta(minutes=30))
    assert await store.load(cookie) is None
    assert await client.exists(key) == 0
    assert await client.smembers(admin_user_sessions("ada")) == set()


async def test_destroy(store: RedisSessionStore, client: aioredis.Redis) -> None:
    cookie, _ = await store.create(user())
    other_cookie, _ = await store.create(user())
    await store.destroy(cookie)
    assert await store.load(cookie) is None
    assert await store.load(other_cookie) is not None
    assert await client.smembers(admin_user_sessions("ada")) == {session_hash(other_cookie).encode()}
    await store.destroy(cookie)  # twice is harmless
    await store.destroy(None)


async def test_destroy_user_logs_out_every_session_of_that_user_only(store: RedisSessionStore) -> None:
    cookies = [(await store.create(user()))[0] for _ in range(3)]
    bob_cookie, _ = await store.create(user("bob", AdminRole.VIEWER))
    assert await store.destroy_user("ada") == 3
    assert [await store.load(cookie) for cookie in cookies] == [None, None, None]
    assert await store.load(bob_cookie) is not None
    assert await store.destroy_user("ada") == 0


async def test_expired_sessions_are_pruned_from_the_user_set(
    store: RedisSessionStore, client: aioredis.Redis
) -> None:
    old_cookie, _ = await store.create(user())
    await client.delete(admin_session(session_hash(old_cookie)))  # as if its TTL had run out
    new_cookie, _ = await store.create(user())
    assert await client.smembers(admin_user_sessions("ada")) == {session_hash(new_cookie).encode()}


async def test_a_malformed_session_loads_nothing_and_is_deleted(
    store: RedisSessionStore, client: aioredis.Redis
) -> None:
    cookie, _ = await store.create(user())
    key = admin_session(session_hash(cookie))
    await client.set(key, b'{"username": "ada"}')
    assert await store.load(cookie) is None
    assert await client.exists(key) == 0


def test_ttls_are_checked(client: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="idle_ttl_s"):
        RedisSessionStore(client, idle_ttl_s=3600, absolute_ttl_s=60)


async def test_an_unreachable_redis_raises_store_unavailable() -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    store = RedisSessionStore(client, idle_ttl_s=IDLE_S, absolute_ttl_s=ABSOLUTE_S)
    try:
        with pytest.raises(StoreUnavailableError):
            await store.create(user())
        with pytest.raises(StoreUnavailableError):
            await store.load("some-cookie")
        with pytest.raises(StoreUnavailableError):
            await store.destroy("some-cookie")
        with pytest.raises(StoreUnavailableError):
            await store.destroy_user("ada")
    finally:
        await client.aclose()


def test_session_is_frozen() -> None:
    session = Session(
        username="ada", role=AdminRole.ADMIN, csrf_token="c" * 43, created_at=NOW, last_seen=NOW
    )
    with pytest.raises(ValueError, match="frozen"):
        session.username = "eve"  # type: ignore[misc]

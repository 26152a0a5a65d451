"""Admin UI users on a real (embedded) Valkey: password hashing, the password policy, unique usernames,
authentication (wrong password, disabled, unknown user, rehash), and what is stored."""

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher

from control_plane import admin_users
from control_plane.admin_users import (
    AdminUsers,
    PasswordCheck,
    RedisAdminUserStore,
    hash_password,
    password_problem,
    verify_password,
)
from control_plane.errors import (
    AdminUserExistsError,
    AdminUserNotFoundError,
    AdminUserValidationError,
    StoreUnavailableError,
)
from control_plane.keys import ADMIN_USERS
from control_plane.launcher.readiness import free_port
from control_plane.model import AdminRole, AdminUser
from control_plane.redis_client import connect
from tests.support.fakes import FakeClock

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
OTHER = "another long password"


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def store(client: aioredis.Redis) -> RedisAdminUserStore:
    return RedisAdminUserStore(client)


@pytest.fixture
def users(store: RedisAdminUserStore) -> AdminUsers:
    return AdminUsers(store, clock=FakeClock(NOW))


async def _stored(client: aioredis.Redis, username: str) -> dict[str, object]:
    raw = await client.hget(ADMIN_USERS, username)
    assert raw is not None
    stored: dict[str, object] = orjson.loads(raw)
    return stored


async def test_create_stores_an_argon2id_hash_and_never_the_password(
    users: AdminUsers, client: aioredis.Redis
) -> None:
    user = await users.create("alice", PASSWORD, AdminRole.ADMIN)
    assert (user.username, user.role, user.tenant, user.disabled, user.created_at) == (
        "alice", AdminRole.ADMIN, None, False, NOW,
    )  # fmt: skip
    raw = await client.hget(ADMIN_USERS, "alice")
    assert raw is not None
    assert PASSWORD not in raw.decode()
    stored = await _stored(client, "alice")
    password_hash = str(stored["password_hash"])
    assert password_hash.startswith("$argon2id$")
    assert password_hash == user.password_hash
    assert verify_password(password_hash, PASSWORD) == PasswordCheck(ok=True, needs_rehash=False)
    assert PASSWORD not in repr(user)
    assert password_hash not in repr(user)


async def test_authenticate_with_the_right_and_a_wrong_password(users: AdminUsers) -> None:
    await users.create("alice", PASSWORD, AdminRole.VIEWER)
    authenticated = await users.authenticate("alice", PASSWORD)
    assert authenticated is not None
    assert authenticated.username == "alice"
    assert await users.authenticate("alice", OTHER) is None
    assert await users.authenticate("alice", "") is None
    assert await users.authenticate("alice", "x" * 5000) is None


async def test_a_disabled_user_cannot_authenticate_until_enabled(
    users: AdminUsers, client: aioredis.Redis
) -> None:
    await users.create("alice", PASSWORD, AdminRole.ADMIN)
    disabled = await users.set_disabled("alice", True)
    assert disabled.disabled is True
    assert (await _stored(client, "alice"))["disabled"] is True
    assert await users.authenticate("alice", PASSWORD) is None
    assert (await users.set_disabled("alice", True)).disabled is True  # idempotent
    await users.set_disabled("alice", False)
    assert await users.authenticate("alice", PASSWORD) is not None


async def test_an_unknown_user_still_costs_a_hash_verification(
    users: AdminUsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []

    def recording_verify(password_hash: str, password: str) -> PasswordCheck:
        checked.append(password_hash)
        return verify_password(password_hash, password)

    monkeypatch.setattr(admin_users, "verify_password", recording_verify)
    assert await users.authenticate("nobody", PASSWORD) is None
    assert len(checked) == 1
    assert checked[0].startswith("$argon2id$")
    assert await users.authenticate("nobody-else", PASSWORD) is None
    assert checked[1] == checked[0]  # one fixed dummy hash per process


async def test_a_hash_with_outdated_parameters_is_renewed_on_sign_in(
    users: AdminUsers, store: RedisAdminUserStore, client: aioredis.Redis
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await store.put(AdminUser(username="old", role=AdminRole.ADMIN, password_hash=weak, created_at=NOW))
    assert verify_password(weak, PASSWORD) == PasswordCheck(ok=True, needs_rehash=True)
    assert await users.authenticate("old", OTHER) is None
    assert (await _stored(client, "old"))["password_hash"] == weak  # a failed sign-in changes nothing
    user = await users.authenticate("old", PASSWORD)
    assert user is not None
    renewed = str((await _stored(client, "old"))["password_hash"])
    assert renewed != weak
    assert renewed == user.password_hash
    assert renewed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(renewed, PASSWORD) == PasswordCheck(ok=True, needs_rehash=False)
    assert await users.authenticate("old", PASSWORD) is not None


async def test_a_taken_username_is_refused(users: AdminUsers, store: RedisAdminUserStore) -> None:
    first = await users.create("alice", PASSWORD, AdminRole.ADMIN)
    with pytest.raises(AdminUserExistsError, match="'alice' already exists"):
        await users.create("alice", OTHER, AdminRole.VIEWER)
    assert await store.get("alice") == first
    assert await store.add(first) is False  # the store's create is atomic (HSETNX)


async def test_the_password_policy(users: AdminUsers) -> None:
    with pytest.raises(AdminUserValidationError, match="at least 12 characters") as short:
        await users.create("alice", "x" * 11, AdminRole.ADMIN)
    assert "x" * 11 not in str(short.value)
    with pytest.raises(AdminUserValidationError, match="at most 1024 characters"):
        await users.create("alice", "x" * 1025, AdminRole.ADMIN)
    assert await users.list() == []
    await users.create("alice", "x" * 12, AdminRole.ADMIN)
    await users.create("bob", "y" * 1024, AdminRole.ADMIN)
    with pytest.raises(AdminUserValidationError, match="at least 12 characters"):
        await users.set_password("alice", "short")
    assert password_problem("x" * 12) is None


async def test_role_tenant_and_username_rules(users: AdminUsers) -> None:
    with pytest.raises(AdminUserValidationError, match="exactly one tenant"):
        await users.create("carol", PASSWORD, AdminRole.TENANT)
    with pytest.raises(AdminUserValidationError, match="exactly one tenant"):
        await users.create("carol", PASSWORD, AdminRole.ADMIN, tenant="acme")
    with pytest.raises(AdminUserValidationError, match="username") as bad:
        await users.create("Carol!", "short", AdminRole.ADMIN)
    assert "at least 12 characters" in str(bad.value)  # every problem at once
    carol = await users.create("carol", PASSWORD, AdminRole.TENANT, tenant="acme")
    assert carol.tenant == "acme"
    assert carol.may_see_tenant("acme")
    assert not carol.may_see_tenant("beta")


async def test_set_password_replaces_the_hash(users: AdminUsers, client: aioredis.Redis) -> None:
    created = await users.create("alice", PASSWORD, AdminRole.ADMIN)
    changed = await users.set_password("alice", OTHER)
    assert changed.password_hash != created.password_hash
    assert (await _stored(client, "alice"))["password_hash"] == changed.password_hash
    assert await users.authenticate("alice", PASSWORD) is None
    assert await users.authenticate("alice", OTHER) is not None
    with pytest.raises(AdminUserNotFoundError):
        await users.set_password("nobody", OTHER)


async def test_list_is_sorted_and_delete_removes(users: AdminUsers, store: RedisAdminUserStore) -> None:
    for name in ("zed", "alice", "mallory"):
        await users.create(name, PASSWORD, AdminRole.VIEWER)
    assert [u.username for u in await users.list()] == ["alice", "mallory", "zed"]
    assert (await users.delete("mallory")).username == "mallory"
    assert [u.username for u in await users.list()] == ["alice", "zed"]
    assert await users.authenticate("mallory", PASSWORD) is None
    with pytest.raises(AdminUserNotFoundError, match="'mallory' does not exist"):
        await users.delete("mallory")
    assert await store.delete("mallory") is False
    with pytest.raises(AdminUserNotFoundError):
        await users.set_disabled("mallory", True)


def test_hash_helpers() -> None:
    password_hash = hash_password(PASSWORD)
    assert password_hash.startswith("$argon2id$")
    assert hash_password(PASSWORD) != password_hash  # a fresh salt each time
    assert verify_password(password_hash, OTHER) == PasswordCheck(ok=False, needs_rehash=False)
    assert verify_password("not a hash", PASSWORD) == PasswordCheck(ok=False, needs_rehash=False)


async def test_passwords_and_hashes_are_never_logged(
    users: AdminUsers, store: RedisAdminUserStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await store.put(AdminUser(username="old", role=AdminRole.ADMIN, password_hash=weak, created_at=NOW))
    await users.authenticate("old", PASSWORD)  # renews the hash
    user = await users.create("alice", PASSWORD, AdminRole.ADMIN)
    await users.set_password("alice", OTHER)
    await users.authenticate("alice", PASSWORD)
    assert "alice" in caplog.text
    for secret in (PASSWORD, OTHER, weak, user.password_hash, "$argon2"):
        assert secret not in caplog.text


async def test_an_unreachable_store_is_a_store_error() -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0")
    users = AdminUsers(RedisAdminUserStore(client))
    try:
        with pytest.raises(StoreUnavailableError, match="admin user store"):
            await users.list()
        with pytest.raises(StoreUnavailableError):
            await users.authenticate("alice", PASSWORD)
    finally:
        await client.aclose()

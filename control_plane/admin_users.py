"""Admin UI users: their passwords (argon2id hashes), their storage, and the rules of managing them.

Users live in one hash, `tw:{admin}:users` (`control_plane.keys.ADMIN_USERS`): username → `AdminUser`
JSON. Only an argon2id hash of a password is stored (argon2-cffi's `PasswordHasher` with its defaults,
PHC string format). Passwords and hashes are never logged, never put in an error message, and never
returned by the admin API. Hashing and verifying are CPU-bound (tens of milliseconds) and run in a
worker thread so they do not stall the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import NamedTuple, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from redis.exceptions import RedisError

from control_plane.errors import (
    AdminUserExistsError,
    AdminUserNotFoundError,
    AdminUserValidationError,
    StoreUnavailableError,
)
from control_plane.keys import ADMIN_USERS
from control_plane.model import AdminRole, AdminUser
from control_plane.redis_client import RedisClient

__all__ = [
    "PASSWORD_MAX_LENGTH",
    "PASSWORD_MIN_LENGTH",
    "AdminUserStore",
    "AdminUsers",
    "PasswordCheck",
    "RedisAdminUserStore",
    "hash_password",
    "password_problem",
    "verify_password",
]

_log = logging.getLogger(__name__)

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024
_UNREACHABLE = "the admin user store (Redis/Valkey) is unreachable"
_HASHER = PasswordHasher()  # argon2id, the library's defaults (RFC 9106 low-memory profile)
_PLACEHOLDER_HASH = "$argon2id$placeholder-while-validating"  # validation only, never stored


class PasswordCheck(NamedTuple):
    """The outcome of checking a password against a stored hash."""

    ok: bool
    needs_rehash: bool
    """The hash was made with other parameters than the current defaults: store a new one."""


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (PHC string format, a fresh random salt)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> PasswordCheck:
    """Whether `password` matches `password_hash`, and whether the hash should be remade.

    A malformed or non-argon2 hash never matches (and raises nothing).
    """
    try:
        _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return PasswordCheck(ok=False, needs_rehash=False)
    return PasswordCheck(ok=True, needs_rehash=_HASHER.check_needs_rehash(password_hash))


def password_problem(password: str) -> str | None:
    """Why `password` breaks the policy (12 to 1024 characters), or None when it is acceptable."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"password: must be at least {PASSWORD_MIN_LENGTH} characters long"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"password: must be at most {PASSWORD_MAX_LENGTH} characters long"
    return None


@cache
def _dummy_hash() -> str:
    """A hash of a random password nobody knows, made once per process with the current defaults:
    checking a password of an unknown user against it costs what checking a real user's costs."""
    return hash_password(secrets.token_urlsafe(32))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AdminUserStore(Protocol):
    """Storage of admin UI users by username."""

    async def get(self, username: str) -> AdminUser | None: ...

    async def list(self) -> list[AdminUser]:
        """Every user, sorted by username."""
        ...

    async def add(self, user: AdminUser) -> bool:
        """Store a new user; False (and nothing stored) when the username is taken."""
        ...

    async def put(self, user: AdminUser) -> None:
        """Store a user, replacing the one of the same username."""
        ...

    async def delete(self, username: str) -> bool:
        """Remove a user; False when there was none."""
        ...


class RedisAdminUserStore:
    """Admin UI users in the `tw:{admin}:users` hash (username → AdminUser JSON)."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client

    async def get(self, username: str) -> AdminUser | None:
        try:
            raw = await self._client.hget(ADMIN_USERS, username)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return AdminUser.model_validate_json(raw) if raw is not None else None

    async def list(self) -> list[AdminUser]:
        try:
            raw = await self._client.hvals(ADMIN_USERS)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return sorted((AdminUser.model_validate_json(value) for value in raw), key=lambda u: u.username)

    async def add(self, user: AdminUser) -> bool:
        try:
            return bool(await self._client.hsetnx(ADMIN_USERS, user.username, user.model_dump_json()))
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc

    async def put(self, user: AdminUser) -> None:
        try:
            await self._client.hset(ADMIN_USERS, user.username, user.model_dump_json())
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc

    async def delete(self, username: str) -> bool:
        try:
            return bool(await self._client.hdel(ADMIN_USERS, username))
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc


class AdminUsers:
    """The rules of admin UI users over any `AdminUserStore` (Redis in production, memory in tests):
    the password policy, unique usernames, and authentication that does not reveal which users exist."""

    def __init__(self, store: AdminUserStore, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._store = store
        self._clock = clock

    async def create(
        self, username: str, password: str, role: AdminRole, tenant: str | None = None
    ) -> AdminUser:
        """A new user; a `tenant` user names its tenant, other roles none (the caller checks that the
        tenant exists). Refuses a taken username and a password that breaks the policy."""
        problems: list[str] = []
        try:
            draft = AdminUser(
                username=username,
                role=role,
                tenant=tenant,
                password_hash=_PLACEHOLDER_HASH,
                created_at=self._clock(),
            )
        except ValidationError as exc:
            draft = None
            problems += [_describe(e) for e in exc.errors(include_url=False, include_input=False)]
        if (problem := password_problem(password)) is not None:
            problems.append(problem)
        if draft is None or problems:
            raise AdminUserValidationError(problems)
        if await self._store.get(username) is not None:
            raise _exists(username)
        user = draft.model_copy(update={"password_hash": await asyncio.to_thread(hash_password, password)})
        if not await self._store.add(user):
            raise _exists(username)
        _log.info("admin user %r created (role %s)", username, user.role.value)
        return user

    async def get(self, username: str) -> AdminUser:
        user = await self._store.get(username)
        if user is None:
            raise AdminUserNotFoundError(f"user {username!r} does not exist")
        return user

    async def list(self) -> list[AdminUser]:
        """Every user, sorted by username."""
        return await self._store.list()

    async def set_password(self, username: str, password: str) -> AdminUser:
        if (problem := password_problem(password)) is not None:
            raise AdminUserValidationError([problem])
        user = await self.get(username)
        changed = user.model_copy(update={"password_hash": await asyncio.to_thread(hash_password, password)})
        await self._store.put(changed)
        _log.info("admin user %r: password changed", username)
        return changed

    async def set_disabled(self, username: str, disabled: bool) -> AdminUser:
        """Disable (no sign-in) or enable a user; setting the state it already has writes nothing."""
        user = await self.get(username)
        if user.disabled == disabled:
            return user
        changed = user.model_copy(update={"disabled": disabled})
        await self._store.put(changed)
        _log.info("admin user %r %s", username, "disabled" if disabled else "enabled")
        return changed

    async def delete(self, username: str) -> AdminUser:
        """Remove a user; the user as it was."""
        user = await self.get(username)
        if not await self._store.delete(username):
            raise AdminUserNotFoundError(f"user {username!r} does not exist")
        _log.info("admin user %r deleted", username)
        return user

    async def authenticate(self, username: str, password: str) -> AdminUser | None:
        """The user when `password` is theirs and they are enabled; None otherwise.

        An unknown username still costs one hash verification (against a dummy hash), so the answer's
        timing does not tell which usernames exist. On success a hash made with outdated parameters is
        replaced by a new one.
        """
        if len(password) > PASSWORD_MAX_LENGTH:
            return None
        user = await self._store.get(username)
        stored = user.password_hash if user is not None else _dummy_hash()
        check = await asyncio.to_thread(verify_password, stored, password)
        if user is None or not check.ok or user.disabled:
            return None
        if check.needs_rehash:
            user = await self._rehash(user, password)
        return user

    async def _rehash(self, user: AdminUser, password: str) -> AdminUser:
        renewed = user.model_copy(update={"password_hash": await asyncio.to_thread(hash_password, password)})
        try:
            await self._store.put(renewed)
        except StoreUnavailableError:
            _log.warning("admin user %r: could not store a renewed password hash", user.username)
            return user
        _log.info("admin user %r: password hash renewed with current parameters", user.username)
        return renewed


def _describe(error: ErrorDetails) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{loc}: {message}" if loc else message


def _exists(username: str) -> AdminUserExistsError:
    return AdminUserExistsError(f"user {username!r} already exists")

"""Browser sessions of the admin UI, kept in Redis/Valkey.

The browser holds only an opaque cookie value (`secrets.token_urlsafe(32)`); Redis holds the session
under `tw:{admin}:session:<sha-256 of the cookie>`, so a copy of Redis (or of its keys) does not let
anyone sign in. A session ends after `idle_ttl_s` without a request (the Redis TTL, slid on every
`load`) or `absolute_ttl_s` after it was created, whichever comes first. Every user's session hashes
are also kept in `tw:{admin}:user_sessions:<username>` so `destroy_user` can end all of them (a
password change, a role change, a disabled or deleted user).

A session remembers the user's role and tenant as they were at sign-in; whoever changes a user calls
`destroy_user`. Neither cookie values nor CSRF tokens are logged.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from redis.exceptions import RedisError

from control_plane.errors import StoreUnavailableError
from control_plane.keys import admin_session, admin_user_sessions
from control_plane.model.admin_user import AdminRole, AdminUser
from control_plane.redis_client import RedisClient

__all__ = ["LAST_SEEN_GRANULARITY_S", "RedisSessionStore", "Session", "session_hash"]

_log = logging.getLogger(__name__)
_UNREACHABLE = "the session store (Redis/Valkey) is unreachable"

LAST_SEEN_GRANULARITY_S = 60
"""`last_seen` is rewritten at most this often; in between, `load` only slides the key's TTL."""

_MAX_COOKIE_CHARS = 128  # `token_urlsafe(32)` is 43 characters; anything much longer is not ours


def _utc_now() -> datetime:
    return datetime.now(UTC)


def session_hash(cookie: str) -> str:
    """The sha-256 (hex) of a cookie value: the only form in which Redis knows a session's cookie."""
    return hashlib.sha256(cookie.encode()).hexdigest()


class Session(BaseModel):
    """One signed-in browser: who it is, its CSRF token, and when it began and was last used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str
    role: AdminRole
    tenant: str | None = Field(default=None, description="the one tenant of a `tenant` user")
    csrf_token: str = Field(min_length=16, repr=False, description="what every form post must carry")
    created_at: AwareDatetime
    last_seen: AwareDatetime


class RedisSessionStore:
    """Sessions as JSON strings with a TTL, plus a set of session hashes per user.

    Every key lives in the `{admin}` hash tag (one Cluster slot), so the multi-key writes are MULTI/EXEC
    transactions. Redis errors raise `StoreUnavailableError`: the caller refuses the request rather than
    treat the browser as signed out or signed in.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        idle_ttl_s: int,
        absolute_ttl_s: int,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if idle_ttl_s < 1 or absolute_ttl_s < idle_ttl_s:
            raise ValueError("session TTLs: need 1 <= idle_ttl_s <= absolute_ttl_s")
        self._client = client
        self._idle_ttl_s = idle_ttl_s
        self._absolute_ttl_s = absolute_ttl_s
        self._clock = clock

    def _ttl_s(self, session: Session, now: datetime) -> int:
        """The key's next TTL: the idle TTL, cut short by the session's absolute end."""
        left = self._absolute_ttl_s - (now - session.created_at).total_seconds()
        return max(1, min(self._idle_ttl_s, int(left)))

    async def create(self, user: AdminUser) -> tuple[str, Session]:
        """A new session for `user`: the cookie value (returned here only) and the session."""
        now = self._clock()
        cookie = secrets.token_urlsafe(32)
        session = Session(
            username=user.username,
            role=user.role,
            tenant=user.tenant,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen=now,
        )
        digest = session_hash(cookie)
        index = admin_user_sessions(user.username)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(admin_session(digest), session.model_dump_json(), ex=self._idle_ttl_s)
                pipe.sadd(index, digest)
                pipe.expire(index, self._absolute_ttl_s)  # outlives every session it names
                await pipe.execute()
            await self._prune(user.username)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return cookie, session

    async def _prune(self, username: str) -> None:
        """Forget the hashes of a user's sessions that have expired (keeps the per-user set small)."""
        index = admin_user_sessions(username)
        digests = sorted(await self._client.smembers(index))
        if not digests:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.exists(admin_session(_text(digest)))
            alive = await pipe.execute()
        gone = [digest for digest, exists in zip(digests, alive, strict=True) if not exists]
        if gone:
            await self._client.srem(index, *gone)

    async def load(self, cookie: str | None) -> Session | None:
        """The session a cookie names, its idle TTL slid; None if there is none, or it has expired."""
        if not cookie or len(cookie) > _MAX_COOKIE_CHARS:
            return None
        now = self._clock()
        digest = session_hash(cookie)
        key = admin_session(digest)
        try:
            raw = await self._client.get(key)
            if raw is None:
                return None
            try:
                session = Session.model_validate_json(raw)
            except ValidationError:
                _log.error("a stored admin session does not validate; ending it")
                await self._client.delete(key)
                return None
            if self._expired(session, now):
                await self._end(digest, session.username)
                return None
            ttl_s = self._ttl_s(session, now)
            if (now - session.last_seen).total_seconds() >= LAST_SEEN_GRANULARITY_S:
                session = session.model_copy(update={"last_seen": now})
                # XX: a session destroyed since the GET stays destroyed
                await self._client.set(key, session.model_dump_json(), ex=ttl_s, xx=True)
            else:
                await self._client.expire(key, ttl_s)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return session

    def _expired(self, session: Session, now: datetime) -> bool:
        """Past the absolute lifetime, or idle for longer than the idle TTL.

        The Redis TTL enforces the idle limit; this check (allowing for `last_seen`'s granularity) also
        holds when the clock and Redis disagree, e.g. a test's clock.
        """
        if now - session.created_at >= timedelta(seconds=self._absolute_ttl_s):
            return True
        idle_limit = timedelta(seconds=self._idle_ttl_s + LAST_SEEN_GRANULARITY_S)
        return now - session.last_seen >= idle_limit

    async def _end(self, digest: str, username: str) -> None:
        """Delete one session and its entry in the user's set; raises Redis errors."""
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(admin_session(digest))
            pipe.srem(admin_user_sessions(username), digest)
            await pipe.execute()

    async def destroy(self, cookie: str | None) -> None:
        """End the session a cookie names (sign out); nothing happens if there is none."""
        if not cookie or len(cookie) > _MAX_COOKIE_CHARS:
            return
        digest = session_hash(cookie)
        key = admin_session(digest)
        try:
            raw = await self._client.get(key)
            if raw is None:
                return
            try:
                username = Session.model_validate_json(raw).username
            except ValidationError:
                await self._client.delete(key)
                return
            await self._end(digest, username)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc

    async def destroy_user(self, username: str) -> int:
        """End every session of one user (log out everywhere); how many were still alive."""
        index = admin_user_sessions(username)
        try:
            digests = [_text(digest) for digest in await self._client.smembers(index)]
            if not digests:
                return 0
            async with self._client.pipeline(transaction=True) as pipe:
                for digest in digests:
                    pipe.delete(admin_session(digest))
                pipe.srem(index, *digests)  # not DEL: a session created meanwhile stays listed
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return sum(int(n) for n in results[:-1])


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

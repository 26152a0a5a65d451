"""API keys: create, list, revoke and rotate; the only writer of the `tw:{keys}:*` key family.

Every write is one Lua script (atomic like MULTI/EXEC, and legal on a Redis Cluster, whose pipelines
refuse PUBLISH): `HSET by_hash sha → ApiKey JSON`, `HSET by_id id → sha` for each key written, one
`INCR version` and one `PUBLISH changes sha` per key. ext_proc reads `by_hash`, follows
`changes` and polls `version`. Secrets exist only in the return value of `create`/`rotate`; neither they
nor their hashes are logged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import ValidationError
from redis.exceptions import RedisError

from control_plane.errors import (
    KeyNotFoundError,
    KeyStateError,
    KeyValidationError,
    StoreUnavailableError,
)
from control_plane.keys import KEYS_BY_HASH, KEYS_BY_ID, KEYS_CHANGES, KEYS_VERSION
from control_plane.model import ApiKey, KeyState, Snapshot
from control_plane.redis_client import RedisClient

__all__ = ["KeyRecords", "KeyStore", "RedisKeyRecords", "RedisKeyStore", "SnapshotSource"]

_UNREACHABLE = "the key store (Redis/Valkey) is unreachable"

# KEYS: by_hash, by_id, version, changes (a channel, passed as a key: same hash tag). ARGV: sha, JSON,
# id for each key. Writes every key, bumps the version once, then announces each sha.
_WRITE = """
for i = 1, #ARGV, 3 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[2], ARGV[i + 2], ARGV[i])
end
redis.call('INCR', KEYS[3])
for i = 1, #ARGV, 3 do
  redis.call('PUBLISH', KEYS[4], ARGV[i])
end
return 1
"""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SnapshotSource(Protocol):
    """Where the key store reads tenants and models from (the Registry)."""

    async def snapshot(self) -> Snapshot: ...


class KeyRecords(Protocol):
    """Storage of keys; `write` stores several keys atomically and announces each."""

    async def by_id(self, key_id: str) -> ApiKey | None: ...

    async def all(self) -> list[ApiKey]: ...

    async def write(self, keys: Sequence[ApiKey]) -> None: ...


class RedisKeyRecords:
    """Keys in the `tw:{keys}:*` hashes (one Cluster slot), each write in one Lua script."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._write = client.register_script(_WRITE)

    async def by_id(self, key_id: str) -> ApiKey | None:
        try:
            sha = await self._client.hget(KEYS_BY_ID, key_id)
            raw = await self._client.hget(KEYS_BY_HASH, sha) if sha is not None else None
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return ApiKey.model_validate_json(raw) if raw is not None else None

    async def all(self) -> list[ApiKey]:
        try:
            raw = await self._client.hvals(KEYS_BY_HASH)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        keys = [ApiKey.model_validate_json(value) for value in raw]
        return sorted(keys, key=lambda k: (k.created_at, k.id))

    async def write(self, keys: Sequence[ApiKey]) -> None:
        try:
            args = [value for key in keys for value in (key.secret_hash, key.model_dump_json(), key.id)]
            await self._write(keys=[KEYS_BY_HASH, KEYS_BY_ID, KEYS_VERSION, KEYS_CHANGES], args=args)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc


def _problem(message: str) -> KeyValidationError:
    return KeyValidationError([message])


class KeyStore:
    """The rules of key management over any `KeyRecords` (Redis in production, memory in unit tests)."""

    def __init__(
        self, records: KeyRecords, registry: SnapshotSource, *, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self._records = records
        self._registry = registry
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def create(
        self,
        tenant: str,
        name: str = "",
        allowed_models: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key for an existing tenant and its secret (returned here and never again).

        `allowed_models` may name models or their aliases (stored as model names); None = the plan's.
        """
        now = self._clock()
        snapshot = await self._registry.snapshot()
        if not tenant:
            raise _problem("tenant: a key needs a tenant")
        if snapshot.spec.tenant(tenant) is None:
            raise _problem(f"tenant {tenant!r} is not in the registry; add it first")
        if expires_at is not None and expires_at <= now:
            raise _problem(f"expires_at {expires_at.isoformat()} is not in the future")
        models: tuple[str, ...] | None = None
        if allowed_models is not None:
            if not allowed_models:
                raise _problem("allowed_models is empty; omit it to allow the plan's models")
            unknown = [m for m in allowed_models if snapshot.resolve(m) is None]
            if unknown:
                raise _problem(f"unknown model(s) {', '.join(repr(m) for m in unknown)}")
            resolved = [snapshot.resolve(m) for m in allowed_models]
            models = tuple(dict.fromkeys(m.name for m in resolved if m is not None))
        try:
            key, secret = ApiKey.issue(
                tenant=tenant, now=now, name=name, expires_at=expires_at, allowed_models=models
            )
        except ValidationError as exc:
            problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)]
            raise KeyValidationError(problems) from None
        await self._records.write([key])
        return key, secret

    async def get(self, key_id: str) -> ApiKey:
        key = await self._records.by_id(key_id)
        if key is None:
            raise KeyNotFoundError(f"key {key_id!r} does not exist")
        return key

    async def list(self, tenant: str | None = None) -> list[ApiKey]:
        keys = await self._records.all()
        return [k for k in keys if tenant is None or k.tenant == tenant]

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke now; revoking a revoked key changes nothing (no write, no version bump)."""
        key = await self.get(key_id)
        now = self._clock()
        if key.state(now) is KeyState.REVOKED:
            return key
        revoked = key.model_copy(update={"revoked_at": now})
        await self._records.write([revoked])
        return revoked

    async def rotate(self, key_id: str, grace: timedelta) -> tuple[ApiKey, str]:
        """A new key (same tenant, name, models and expiry) and its secret; the old key keeps working
        for `grace` (or until its own expiry, if sooner) and points at the new one.

        Both keys are written in one transaction.
        """
        if grace < timedelta(0):
            raise _problem("grace must not be negative")
        old = await self.get(key_id)
        now = self._clock()
        state = old.state(now)
        if state is not KeyState.ACTIVE:
            raise KeyStateError(f"key {key_id!r} is {state.value}; create a new key instead")
        if old.rotated_to is not None:
            raise KeyStateError(f"key {key_id!r} was already rotated to {old.rotated_to!r}")
        new, secret = ApiKey.issue(
            tenant=old.tenant,
            now=now,
            name=old.name,
            expires_at=old.expires_at,
            allowed_models=old.allowed_models,
        )
        until = now + grace
        if old.expires_at is not None and old.expires_at < until:
            until = old.expires_at
        retired = old.model_copy(update={"expires_at": until, "rotated_to": new.id})
        await self._records.write([new, retired])
        return new, secret


class RedisKeyStore(KeyStore):
    """The key store on Redis/Valkey (the `tw:{keys}:*` layout ext_proc reads)."""

    def __init__(
        self, client: RedisClient, registry: SnapshotSource, *, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        super().__init__(RedisKeyRecords(client), registry, clock=clock)

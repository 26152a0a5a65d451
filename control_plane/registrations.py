"""Self-registered backends (service discovery): leases in Redis, the rules, and a feed for xds.

A backend registers for a model with a TTL and heart-beats by registering again (the same idempotent
call, a new expiry). Layout (`control_plane.keys`, one hash tag, so Cluster-safe):
`tw:{registrations}:entries` member → JSON registration without its expiry, `…:expiry` member → lease
expiry in ms, `…:changes` pub/sub. A write publishes only when what Envoy sees changes (a new backend,
a changed backend, a removal, a purge); a plain heartbeat only moves the expiry.

`RedisRegistrationStore.watch()` is what xds follows: the full live set, yielded whenever it changes,
on a pub/sub message or when a lease runs out (checked at least every `poll_interval_s`). While Redis is
unreachable it keeps retrying and yields nothing, so xds keeps serving the last set. This module
imports no registry storage: the data plane may use it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import orjson
from pydantic import ValidationError
from redis.exceptions import RedisError

from control_plane.errors import RegistryNotFoundError, RegistryValidationError, StoreUnavailableError
from control_plane.keys import (
    REGISTRATIONS_CHANGES,
    REGISTRATIONS_ENTRIES,
    REGISTRATIONS_EXPIRY,
    registration_member,
)
from control_plane.model import Backend, BackendRegistration, Snapshot, registration_problems
from control_plane.model.registration import DEFAULT_REGISTRATION_TTL_S
from control_plane.redis_client import RedisClient, open_pubsub

__all__ = [
    "RedisRegistrationStore",
    "RegistrationStore",
    "Registrations",
    "SnapshotSource",
]

_log = logging.getLogger(__name__)

_UNREACHABLE = "the registration store (Redis/Valkey) is unreachable"
_MIN_WAIT_S = 0.02

# KEYS: entries, expiry, changes. ARGV: member, entry JSON, expiry ms, now ms.
# Upsert the lease, purge expired ones; publish when the entry is new/changed or something was purged.
_PUT = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
local was_live = (redis.call('ZSCORE', KEYS[2], ARGV[1]) or '-inf')
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
for _, member in ipairs(expired) do
  redis.call('HDEL', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
end
local revived = was_live == '-inf' or tonumber(was_live) < tonumber(ARGV[4])
if old ~= ARGV[2] or revived or #expired > 0 then
  redis.call('PUBLISH', KEYS[3], ARGV[1])
end
return 1
"""

# KEYS: entries, expiry, changes. ARGV: member, now ms. Returns 1 if a live registration was removed.
_REMOVE = """
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if score then
  redis.call('PUBLISH', KEYS[3], ARGV[1])
  if tonumber(score) >= tonumber(ARGV[2]) then return 1 end
end
return 0
"""

# KEYS: entries, expiry, changes. ARGV: now ms. Drops expired leases; returns how many.
_PURGE = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
for _, member in ipairs(expired) do
  redis.call('HDEL', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
end
if #expired > 0 then redis.call('PUBLISH', KEYS[3], 'purge') end
return #expired
"""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _endpoints(registrations: Sequence[BackendRegistration]) -> tuple[tuple[str, Backend], ...]:
    """What Envoy sees of a set of registrations (their leases left out)."""
    return tuple((r.model, r.backend) for r in registrations)


class SnapshotSource(Protocol):
    """Where the rules read models from (the Registry)."""

    async def snapshot(self) -> Snapshot: ...


class RegistrationStore(Protocol):
    """Storage of leases; `live` returns only unexpired ones, sorted by (model, backend name)."""

    def now(self) -> datetime: ...

    async def put(self, registration: BackendRegistration) -> None: ...

    async def remove(self, model: str, backend: str) -> bool: ...

    async def live(self) -> list[BackendRegistration]: ...


class RedisRegistrationStore:
    """Leases in the `tw:{registrations}:*` keys; every write is one Lua script (one Cluster slot)."""

    def __init__(
        self,
        client: RedisClient,
        *,
        clock: Callable[[], datetime] = _utc_now,
        poll_interval_s: float = 1.0,
        retry_s: float = 0.5,
    ) -> None:
        self._client = client
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._retry_s = retry_s
        self._put = client.register_script(_PUT)
        self._remove = client.register_script(_REMOVE)
        self._purge = client.register_script(_PURGE)

    @property
    def _keys(self) -> list[str]:
        return [REGISTRATIONS_ENTRIES, REGISTRATIONS_EXPIRY, REGISTRATIONS_CHANGES]

    def now(self) -> datetime:
        return self._clock()

    async def put(self, registration: BackendRegistration) -> None:
        """Upsert (register or heartbeat); the lease ends at `registration.expires_at`."""
        member = registration_member(registration.model, registration.backend.name)
        entry = registration.model_dump_json(exclude={"expires_at"})
        args: list[str | int] = [member, entry, _ms(registration.expires_at), _ms(self._clock())]
        try:
            await self._put(keys=self._keys, args=args)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc

    async def remove(self, model: str, backend: str) -> bool:
        """Drop a registration at once; False if there was no live one."""
        args: list[str | int] = [registration_member(model, backend), _ms(self._clock())]
        try:
            removed = await self._remove(keys=self._keys, args=args)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return bool(removed)

    async def live(self) -> list[BackendRegistration]:
        """Every unexpired registration (expired ones are purged on the way)."""
        try:
            await self._purge(keys=self._keys, args=[_ms(self._clock())])
            return await self._read()
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc

    async def _read(self) -> list[BackendRegistration]:
        """Unexpired registrations, read-only (what xds uses); raises Redis errors."""
        now_ms = _ms(self._clock())
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hgetall(REGISTRATIONS_ENTRIES)
            pipe.zrange(REGISTRATIONS_EXPIRY, 0, -1, withscores=True)
            entries, expiries = await pipe.execute()
        registrations: list[BackendRegistration] = []
        for raw_member, score in expiries:
            raw = entries.get(raw_member)
            if raw is None or score < now_ms:
                continue
            try:
                entry = orjson.loads(raw)
                entry["expires_at"] = datetime.fromtimestamp(score / 1000, UTC)
                registrations.append(BackendRegistration.model_validate(entry))
            except (orjson.JSONDecodeError, TypeError, ValidationError):
                _log.error("stored registration %r does not validate; ignoring it", raw_member)
        return sorted(registrations, key=lambda r: r.key)

    async def watch(self) -> AsyncIterator[tuple[BackendRegistration, ...]]:
        """The live set whenever what Envoy would see of it changes, forever; the current set first."""
        last: tuple[tuple[str, Backend], ...] | None = None
        while True:
            try:
                async with await open_pubsub(self._client) as pubsub:
                    await pubsub.subscribe(REGISTRATIONS_CHANGES)
                    while True:
                        live = await self._read()
                        if _endpoints(live) != last:
                            last = _endpoints(live)
                            yield tuple(live)
                        await pubsub.get_message(timeout=self._wait_s(live))
                        while await pubsub.get_message(timeout=0.0) is not None:
                            pass
            except (RedisError, OSError) as exc:
                _log.warning("registration feed: redis unavailable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(self._retry_s)

    def _wait_s(self, live: Sequence[BackendRegistration]) -> float:
        """Until the next message, the poll interval, or just past the first lease to run out."""
        if not live:
            return self._poll_interval_s
        first_expiry = min(r.expires_at for r in live)
        until = (first_expiry - self._clock()).total_seconds() + 0.01
        return min(self._poll_interval_s, max(_MIN_WAIT_S, until))


class Registrations:
    """The rules of self-registration over any `RegistrationStore` (Redis, or memory in unit tests)."""

    def __init__(self, store: RegistrationStore, registry: SnapshotSource) -> None:
        self._store = store
        self._registry = registry

    async def register(
        self, model: str, backend: Backend, ttl_s: float = DEFAULT_REGISTRATION_TTL_S
    ) -> BackendRegistration:
        """Register or heartbeat `backend` for `model` (a name or alias); the lease lasts `ttl_s`."""
        snapshot = await self._registry.snapshot()
        target = snapshot.resolve(model)
        if target is None:
            raise RegistryNotFoundError(f"model {model!r} is not in the registry")
        problems = registration_problems(target, backend)
        policy = target.registration
        if policy is not None and not problems:
            others = [
                r
                for r in await self._store.live()
                if r.model == target.name and r.backend.name != backend.name
            ]
            if len(others) >= policy.max_backends:
                problems.append(
                    f"model {target.name!r} already has {len(others)} registered backends (its maximum)"
                )
        if problems:
            raise RegistryValidationError(problems)
        try:
            registration = BackendRegistration(
                model=target.name,
                backend=backend,
                ttl_s=ttl_s,
                expires_at=self._store.now() + timedelta(seconds=ttl_s),
            )
        except ValidationError as exc:
            problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)]
            raise RegistryValidationError(problems) from None
        await self._store.put(registration)
        return registration

    async def deregister(self, model: str, backend: str) -> bool:
        """Remove now (idempotent); False if no live registration had that name."""
        snapshot = await self._registry.snapshot()
        target = snapshot.resolve(model)
        return await self._store.remove(target.name if target is not None else model, backend)

    async def list(self, model: str | None = None) -> list[BackendRegistration]:
        live = await self._store.live()
        if model is None:
            return live
        target = (await self._registry.snapshot()).resolve(model)
        name = target.name if target is not None else model
        return [r for r in live if r.model == name]

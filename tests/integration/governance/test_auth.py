"""API-key auth against a real Valkey: lookup, states, revoke propagation, Redis-down behaviour."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from control_plane.keys import KEYS_BY_HASH, KEYS_CHANGES, KEYS_VERSION
from control_plane.model import ApiKey
from ext_proc.errors import AuthUnavailableError, InvalidApiKeyError
from ext_proc.governance.auth import RedisAuthenticator
from tests.integration.governance.conftest import ValkeyContainer, ValkeyServer

NOW = datetime.now(UTC)


async def store(client: aioredis.Redis, key: ApiKey, *, publish: bool = True, bump: bool = True) -> None:
    """What the registry's key store does on every key write."""
    await client.hset(KEYS_BY_HASH, key.secret_hash, key.model_dump_json())
    if bump:
        await client.incr(KEYS_VERSION)
    if publish:
        await client.publish(KEYS_CHANGES, key.secret_hash)


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


@contextlib.asynccontextmanager
async def following(*authenticators: RedisAuthenticator) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(a.follow_changes()) for a in authenticators]
    await asyncio.sleep(0.2)  # subscribed
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_active_unknown_expired_revoked(redis_client: aioredis.Redis) -> None:
    active, secret = ApiKey.issue(tenant="acme", now=NOW, allowed_models=("m1",))
    expired, expired_secret = ApiKey.issue(tenant="acme", now=NOW, expires_at=NOW - timedelta(seconds=1))
    revoked, revoked_secret = ApiKey.issue(tenant="acme", now=NOW)
    revoked = revoked.model_copy(update={"revoked_at": NOW})
    for key in (active, expired, revoked):
        await store(redis_client, key)
    auth = RedisAuthenticator(redis_client)
    principal = await auth.authenticate(bearer(secret))
    assert (principal.tenant, principal.key_id, principal.allowed_models) == (
        "acme",
        active.id,
        frozenset({"m1"}),
    )
    assert (await auth.authenticate({"x-api-key": secret})).key_id == active.id
    messages = set()
    for bad in (expired_secret, revoked_secret, "tw-unknown", ""):
        with pytest.raises(InvalidApiKeyError) as error:
            await auth.authenticate(bearer(bad))
        messages.add(error.value.message)
        assert bad not in error.value.message or not bad
    assert len(messages) == 1  # nothing tells unknown, expired and revoked apart


async def test_rotation_grace_is_just_an_expiry(redis_client: aioredis.Redis) -> None:
    clock = [NOW]
    old, secret = ApiKey.issue(tenant="acme", now=NOW, expires_at=NOW + timedelta(hours=1))
    await store(redis_client, old)
    auth = RedisAuthenticator(redis_client, clock=lambda: clock[0])
    assert (await auth.authenticate(bearer(secret))).key_id == old.id
    clock[0] = NOW + timedelta(hours=1, seconds=1)
    with pytest.raises(InvalidApiKeyError):
        await auth.authenticate(bearer(secret))  # from the cache: expiry is checked locally


@pytest.mark.parametrize(("publish", "bump"), [(True, False), (False, True)], ids=["pubsub", "poll-only"])
async def test_revoke_reaches_two_replicas_within_one_second(
    redis_client: aioredis.Redis, publish: bool, bump: bool
) -> None:
    key, secret = ApiKey.issue(tenant="acme", now=NOW)
    await store(redis_client, key)
    replicas = [RedisAuthenticator(redis_client, poll_interval_s=0.5) for _ in range(2)]
    async with following(*replicas):
        for replica in replicas:
            await replica.authenticate(bearer(secret))  # cached now
        revoked = key.model_copy(update={"revoked_at": datetime.now(UTC)})
        start = time.monotonic()
        await store(redis_client, revoked, publish=publish, bump=bump)
        pending = set(range(2))
        while pending and time.monotonic() - start < 2.0:
            for i in list(pending):
                try:
                    await replicas[i].authenticate(bearer(secret))
                except InvalidApiKeyError:
                    pending.discard(i)
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - start
    assert not pending
    assert elapsed < 1.0


async def test_redis_down_cached_keys_work_unknown_keys_get_503(
    valkey: ValkeyServer | ValkeyContainer, redis_client: aioredis.Redis
) -> None:
    clock = [NOW]
    key, secret = ApiKey.issue(tenant="acme", now=NOW, expires_at=NOW + timedelta(minutes=5))
    await store(redis_client, key)
    auth = RedisAuthenticator(redis_client, clock=lambda: clock[0])
    async with following(auth):
        await auth.authenticate(bearer(secret))
        valkey.stop()
        await asyncio.sleep(1.0)  # the follower notices and keeps retrying; the cache stays
        assert (await auth.authenticate(bearer(secret))).tenant == "acme"
        with pytest.raises(AuthUnavailableError):
            await auth.authenticate(bearer("tw-never-seen"))
        clock[0] = NOW + timedelta(minutes=6)
        with pytest.raises(InvalidApiKeyError):
            await auth.authenticate(bearer(secret))

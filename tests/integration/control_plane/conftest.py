"""A private Valkey for Redis-backed control-plane tests: a container when Docker is available."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis


@pytest.fixture
async def redis_client(private_valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(private_valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()

"""A private Valkey for Redis-backed control-plane tests: a container when Docker is available."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from tests.support.valkey import private_valkey


@pytest.fixture(scope="module")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Valkey private to the module: a container when Docker is there (tests/support/valkey.py)."""
    server = private_valkey(tmp_path_factory.mktemp("valkey"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def redis_client(valkey_server: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(valkey_server)
    await client.flushdb()
    yield client
    await client.aclose()

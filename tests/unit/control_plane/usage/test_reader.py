"""RedisUsageReader over a real embedded Valkey: month and day hashes as the ledger writes them."""

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from control_plane.errors import StoreUnavailableError, UsagePeriodError
from control_plane.keys import tenant_usage
from control_plane.launcher.readiness import free_port
from control_plane.redis_client import connect
from control_plane.usage import RedisUsageReader
from control_plane.usage.reader import check_day


@pytest.fixture
async def redis_client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


async def test_day_usage_reads_each_day(redis_client: aioredis.Redis) -> None:
    await redis_client.hset(
        tenant_usage("acme", "2026-11-20"), mapping={"*|*|requests": 3, "m|v1|requests": 3}
    )
    await redis_client.hset(tenant_usage("acme", "2026-11-21"), mapping={"*|*|cost_pico": 5, "junk": "x"})
    await redis_client.hset(tenant_usage("other", "2026-11-21"), mapping={"*|*|requests": 9})
    reader = RedisUsageReader(redis_client)
    days = ["2026-11-19", "2026-11-20", "2026-11-21"]
    assert await reader.day_usage("acme", days) == {
        "2026-11-19": {},
        "2026-11-20": {"*|*|requests": 3, "m|v1|requests": 3},
        "2026-11-21": {"*|*|cost_pico": 5},
    }
    assert await reader.day_usage("acme", []) == {}


@pytest.mark.parametrize("day", ["2026-11", "2026-13-01", "2026-02-30", "26-11-21", "2026-11-21x"])
async def test_a_bad_day_is_refused(redis_client: aioredis.Redis, day: str) -> None:
    with pytest.raises(UsagePeriodError):
        await RedisUsageReader(redis_client).day_usage("acme", [day])
    with pytest.raises(UsagePeriodError):
        check_day(day)


async def test_an_unreachable_store_is_store_unavailable() -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(StoreUnavailableError):
            await RedisUsageReader(client).day_usage("acme", ["2026-11-21"])
    finally:
        await client.aclose()

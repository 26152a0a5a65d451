"""Sign-in throttling on a real (embedded) Valkey: per username, per address, failing closed."""

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from admin_ui.web.throttle import FAIL_CLOSED_RETRY_S, LoginThrottle, address_key
from control_plane.keys import admin_login_failures, admin_login_failures_ip
from control_plane.launcher.readiness import free_port
from control_plane.redis_client import connect

IP = "203.0.113.7"
WINDOW_S = 900


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def throttle(client: aioredis.Redis) -> LoginThrottle:
    return LoginThrottle(client, max_failures=3, window_s=WINDOW_S)


async def test_a_username_is_throttled_after_max_failures(
    throttle: LoginThrottle, client: aioredis.Redis
) -> None:
    for _ in range(2):
        await throttle.failed("ada", IP)
        assert await throttle.retry_after("ada", IP) == 0
    await throttle.failed("ada", IP)
    wait = await throttle.retry_after("ada", IP)
    assert WINDOW_S - 2 <= wait <= WINDOW_S
    assert await throttle.retry_after("ada", "198.51.100.1") == wait  # from anywhere
    assert await throttle.retry_after("bob", IP) == 0  # the address is still under its own limit
    assert await client.get(admin_login_failures("ada")) == b"3"


async def test_the_window_starts_at_the_first_failure(
    throttle: LoginThrottle, client: aioredis.Redis
) -> None:
    await throttle.failed("ada", IP)
    await client.expire(admin_login_failures("ada"), 100)  # as if 800 s had passed
    await throttle.failed("ada", IP)
    assert await client.ttl(admin_login_failures("ada")) <= 100  # a later failure does not extend it


async def test_usernames_are_counted_case_insensitively(throttle: LoginThrottle) -> None:
    for name in ("Ada", " ada", "ADA"):
        await throttle.failed(name, IP)
    assert await throttle.retry_after("ada", IP) > 0


async def test_an_address_is_throttled_after_four_times_max_failures(throttle: LoginThrottle) -> None:
    for n in range(12):
        assert await throttle.retry_after(f"user{n}", IP) == 0
        await throttle.failed(f"user{n}", IP)
    assert await throttle.retry_after("someone-else", IP) > 0
    assert await throttle.retry_after("someone-else", "198.51.100.1") == 0


async def test_an_ipv6_client_is_counted_by_its_64(throttle: LoginThrottle, client: aioredis.Redis) -> None:
    for n in range(12):
        await throttle.failed(f"user{n}", f"2001:db8:1:2::{n + 1:x}")
    assert await throttle.retry_after("someone-else", "2001:db8:1:2:ffff::1") > 0
    assert await throttle.retry_after("someone-else", "2001:db8:1:3::1") == 0
    assert await client.exists(admin_login_failures_ip("2001:db8:1:2::/64")) == 1


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        (None, "unknown"),
        ("testclient", "testclient"),
    ],
)
def test_address_key(ip: str | None, key: str) -> None:
    assert address_key(ip) == key


async def test_success_clears_the_username_but_not_the_address(
    throttle: LoginThrottle, client: aioredis.Redis
) -> None:
    for _ in range(3):
        await throttle.failed("ada", IP)
    assert await throttle.retry_after("ada", IP) > 0
    await throttle.succeeded("ada")
    assert await throttle.retry_after("ada", IP) == 0
    assert await client.get(admin_login_failures_ip(IP)) == b"3"


async def test_failures_expire_with_the_window(client: aioredis.Redis) -> None:
    throttle = LoginThrottle(client, max_failures=1, window_s=1)
    await throttle.failed("ada", IP)
    assert await throttle.retry_after("ada", IP) == 1
    await asyncio.sleep(1.2)
    assert await throttle.retry_after("ada", IP) == 0


async def test_an_unreachable_redis_fails_closed_and_logs_no_username(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    throttle = LoginThrottle(client, max_failures=3, window_s=WINDOW_S)
    secret_looking = "hunter2-typed-as-a-username"
    try:
        with caplog.at_level(logging.WARNING, logger="admin_ui.web.throttle"):
            assert await throttle.retry_after(secret_looking, IP) == FAIL_CLOSED_RETRY_S
            await throttle.failed(secret_looking, IP)  # logged, not raised
            await throttle.succeeded(secret_looking)
    finally:
        await client.aclose()
    assert len(caplog.records) == 3
    assert secret_looking not in caplog.text
    assert "refusing sign-ins" in caplog.text


def test_limits_are_checked(client: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LoginThrottle(client, max_failures=0)

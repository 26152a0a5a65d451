"""Shared fixtures of the admin UI page tests: the harness fakes (registry, keys, usage, users, audit)
behind the real app with its UI mounted, a real embedded Valkey for sessions and the throttle, and an
in-process HTTP client. Helpers (sign in, a page's CSRF token): tests/support/ui_pages.py.

A test module may define fixtures of the same names to replace these (test_pages.py does)."""

from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from admin_ui.app import create_app
from admin_ui.web.context import WebServices
from admin_ui.web.csrf import LoginCsrf
from admin_ui.web.sessions import RedisSessionStore
from admin_ui.web.throttle import LoginThrottle
from control_plane.model import AdminRole
from control_plane.redis_client import connect
from tests.support.fakes import ADMIN_TOKEN, AdminHarness, FakeClock
from tests.support.ui_pages import UI_BASE, UI_NOW, UI_PASSWORD


@pytest.fixture
async def redis_client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def harness() -> AdminHarness:
    """The fakes, with one admin UI user: `ada` (admin), password `UI_PASSWORD`."""
    harness = AdminHarness(clock=FakeClock(UI_NOW))
    await harness.users.create("ada", UI_PASSWORD, AdminRole.ADMIN)
    return harness


@pytest.fixture
def web(redis_client: aioredis.Redis) -> WebServices:
    return WebServices(
        sessions=RedisSessionStore(redis_client, idle_ttl_s=3600, absolute_ttl_s=7200),
        throttle=LoginThrottle(redis_client, max_failures=50, window_s=900),
        login_csrf=LoginCsrf(b"s" * 32),
        cookie_secure=False,
    )


@pytest.fixture
def app(harness: AdminHarness, web: WebServices) -> FastAPI:
    """The admin app over the harness ports, audited (`harness.audit`), with the UI mounted."""
    return create_app(
        registry_port=harness.registry,
        xds_status=harness.xds_status,
        keys_port=harness.keys,
        usage_port=harness.usage,
        admin_token=ADMIN_TOKEN,
        cache_port=harness.cache,
        users_port=harness.users,
        audit_port=harness.audit,
        web=web,
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=UI_BASE) as c:
        yield c

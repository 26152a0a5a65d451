"""Helpers of the operations page tests (cache, status, audit, users): a second signed-in browser for
another user, and registry set-up."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from control_plane.model import AdminRole, CachePolicy, Plan, Tenant
from tests.support.fakes import AdminHarness
from tests.support.ui_pages import UI_BASE, UI_PASSWORD, page_csrf

__all__ = ["add_tenants", "browser_for"]


@asynccontextmanager
async def browser_for(
    app: FastAPI, harness: AdminHarness, username: str, role: AdminRole, tenant: str | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A new user `username` (password UI_PASSWORD), signed in on its own client: (client, CSRF token)."""
    await harness.users.create(username, UI_PASSWORD, role, tenant)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=UI_BASE) as client:
        login = await client.get("/ui/login")
        form = {"username": username, "password": UI_PASSWORD, "csrf": page_csrf(login.text)}
        assert (await client.post("/ui/login", data=form)).status_code == 303
        home = await client.get("/ui/", follow_redirects=True)  # a tenant user's home may redirect
        yield client, page_csrf(home.text)


async def add_tenants(harness: AdminHarness, *ids: str, namespace: dict[str, str] | None = None) -> None:
    """Plan `basic` (cache on) and tenants `ids` on it; `namespace` maps a tenant to a shared cache
    namespace it opts into."""
    spec = (await harness.registry.snapshot()).spec
    if spec.plan("basic") is None:
        await harness.registry.put_plan(Plan(name="basic", cache=CachePolicy(enabled=True)))
    for tenant_id in ids:
        shared = (namespace or {}).get(tenant_id)
        cache = CachePolicy(namespace=shared) if shared else None
        await harness.registry.put_tenant(Tenant(id=tenant_id, plan="basic", cache=cache))

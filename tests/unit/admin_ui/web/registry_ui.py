"""Helpers of the registry page tests (plans, models, prices): a signed-in browser per role, and
finding an input's `.field` block in a page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from admin_ui.web.context import SESSION_COOKIE, WebServices
from control_plane.errors import AdminUserNotFoundError
from control_plane.model import AdminRole, AdminUser
from tests.support.fakes import AdminHarness
from tests.support.ui_pages import UI_BASE

__all__ = ["ROLE_USERS", "Browser", "browser", "field_block", "has_form_post"]

ROLE_USERS: Mapping[str, tuple[str, AdminRole, str | None]] = {
    "admin": ("ada", AdminRole.ADMIN, None),
    "viewer": ("vera", AdminRole.VIEWER, None),
    "tenant": ("tess", AdminRole.TENANT, "acme"),
}
"""role → (username, role, tenant) of the user a `browser` signs in as."""


@dataclass
class Browser:
    """A signed-in client; `post` adds the session's CSRF token unless `csrf=False`."""

    client: httpx.AsyncClient
    csrf: str

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def post(
        self, path: str, data: Mapping[str, Any] | None = None, *, csrf: bool = True
    ) -> httpx.Response:
        form: dict[str, Any] = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        return await self.client.post(path, data=form)


@asynccontextmanager
async def browser(app: FastAPI, harness: AdminHarness, role: str) -> AsyncIterator[Browser]:
    """A new client with a session of `role`'s user (created when missing, with the harness admin's
    password hash: no hashing, no sign-in form, so the tests stay fast)."""
    username, admin_role, tenant = ROLE_USERS[role]
    try:
        user = await harness.users.get(username)
    except AdminUserNotFoundError:
        template = (await harness.users.list())[0]
        user = AdminUser(
            username=username,
            role=admin_role,
            tenant=tenant,
            password_hash=template.password_hash,
            created_at=template.created_at,
        )
        await harness.user_store.add(user)
    web: WebServices = app.state.web
    cookie, session = await web.sessions.create(user)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=UI_BASE, cookies={SESSION_COOKIE: cookie}
    ) as client:
        yield Browser(client, session.csrf_token)


def field_block(html: str, name: str) -> str:
    """The `<div class="field ...">` that holds the input, select or textarea named `name`."""
    for match in re.finditer(r'<div class="field[^"]*">(.*?)</div>', html, re.DOTALL):
        if f'name="{name}"' in match.group(1):
            return match.group(0)
    raise AssertionError(f"no field {name!r} in the page")


def has_form_post(html: str) -> bool:
    """Whether the page has a form that posts, other than the header's sign-out form."""
    return len(re.findall(r'<form[^>]*method="post"', html)) > html.count('id="logout"')

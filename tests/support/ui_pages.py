"""Helpers of the admin UI page tests (fixtures: tests/unit/admin_ui/web/conftest.py): sign in, read a
page's CSRF token."""

import re
from datetime import UTC, datetime

import httpx

__all__ = ["UI_BASE", "UI_NOW", "UI_PASSWORD", "page_csrf", "sign_in"]

UI_NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
"""The harness clock's time (keys, users); pages that read the wall clock do not use it."""
UI_PASSWORD = "correct horse battery"
UI_BASE = "http://admin"


def page_csrf(html: str) -> str:
    """The CSRF token in a page's first hidden `csrf` field."""
    match = re.search(r'<input type="hidden" name="csrf" value="([^"]+)">', html)
    assert match is not None, html
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, username: str = "ada", password: str = UI_PASSWORD) -> str:
    """Sign `client` in (it keeps the session cookie); the session's CSRF token for form posts."""
    page = await client.get("/ui/login")
    form = {"username": username, "password": password, "csrf": page_csrf(page.text)}
    response = await client.post("/ui/login", data=form)
    assert response.status_code == 303, response.text
    return page_csrf((await client.get("/ui/", follow_redirects=True)).text)  # a tenant user: its tenant

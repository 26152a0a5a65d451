"""Signing in and out of the admin UI in a real browser: a wrong password is refused with a message, the
right one opens the dashboard, signing out ends the session (the dashboard sends back to sign-in)."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect
from pydantic import SecretStr

from control_plane.admin_client import AdminClient
from control_plane.launcher import StackInfo
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


@pytest.fixture
def operator(admin: AdminClient) -> str:
    username = f"ops-{uuid.uuid4().hex[:8]}"
    admin.create_user(username, SecretStr(PASSWORD), "admin")
    return username


def _sign_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/ui/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in")


def test_sign_in_shows_the_dashboard_and_sign_out_ends_the_session(
    page: Page, stack_info: StackInfo, operator: str
) -> None:
    base = stack_info.admin_url
    page.goto(f"{base}/ui/")
    expect(page).to_have_url(f"{base}/ui/login")  # no session: sent to sign in
    screenshot(page, "login")

    _sign_in(page, base, operator, "not the password")
    expect(page.locator(".error")).to_have_text("Wrong username or password.")
    expect(page.locator("#password")).to_have_value("")  # never echoed back

    _sign_in(page, base, operator, PASSWORD)
    expect(page).to_have_url(f"{base}/ui/")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("#user")).to_have_text(operator)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["tollway_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    screenshot(page, "dashboard")

    page.click("#sign-out")
    expect(page).to_have_url(f"{base}/ui/login")
    page.goto(f"{base}/ui/")
    expect(page).to_have_url(f"{base}/ui/login")  # the session is gone on the server too


def test_a_disabled_user_cannot_sign_in(
    page: Page, stack_info: StackInfo, admin: AdminClient, operator: str
) -> None:
    admin.disable_user(operator)
    _sign_in(page, stack_info.admin_url, operator, PASSWORD)
    expect(page.locator(".error")).to_have_text("Wrong username or password.")
    expect(page).to_have_url(f"{stack_info.admin_url}/ui/login")

"""A real stack (Valkey, admin, xds, ext_proc, Envoy, the demo upstream) and Debian's chromium driven by
Playwright. Screenshots of the pages go to `test-artifacts/screenshots/` (look at them)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, sync_playwright

from control_plane.admin_client import AdminClient
from control_plane.launcher import StackInfo, StackSettings
from tests.support.stacks import running_stack

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def stack_info(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    settings = StackSettings(
        state_dir=tmp_path_factory.mktemp("browser-state"),
        listener_port=0,
        admin_port=0,
        ext_proc_workers=1,
        demo=True,
        log_level="info",
    )
    with running_stack(settings) as stack:
        yield stack.info


@pytest.fixture(scope="session")
def admin(stack_info: StackInfo) -> Iterator[AdminClient]:
    client = AdminClient(stack_info.admin_url, stack_info.admin_token)
    yield client
    client.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium is not None, "Debian's chromium is missing: `make browser-deps` installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def screenshot(page: Page, name: str, mask: Sequence[Locator] = ()) -> Path:
    """Save the page as `test-artifacts/screenshots/<name>.png` (full page; `mask` boxes hidden, e.g. a
    secret). Waits for the page's fonts and charts to settle first."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(path), full_page=True, mask=list(mask))
    return path

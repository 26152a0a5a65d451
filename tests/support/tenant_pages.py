"""A registry, users and usage for the tenant and key page tests: plans `basic` (with limits) and
`free`, tenants `acme` (with usage in November 2026) and `globex`, and UI users `vic` (viewer),
`tina` (tenant user of acme) and `tom` (tenant user of globex)."""

import re

from control_plane.model import AdminRole, Limits, Plan, Tenant
from tests.support.fakes import AdminHarness
from tests.support.ui_pages import UI_PASSWORD

__all__ = ["ACME_DAY", "ACME_MONTH", "ids_in", "seed", "text_of"]

ACME_MONTH = {
    "*|*|requests": 1234,
    "*|*|billable_requests": 1200,
    "*|*|prompt_tokens": 600_000,
    "*|*|completion_tokens": 150_000,
    "*|*|cost_pico": 2_500_000_000_000,  # 2.50 units
    "gpt-4o|v1|requests": 1000,
    "gpt-4o|v1|prompt_tokens": 500_000,
    "gpt-4o|v1|completion_tokens": 100_000,
    "gpt-4o|v1|cost_pico": 2_000_000_000_000,
    "small|v1|requests": 234,
    "small|v1|prompt_tokens": 100_000,
    "small|v1|completion_tokens": 50_000,
    "small|v1|cost_pico": 500_000_000_000,
}
ACME_DAY = {
    "*|*|requests": 30,
    "*|*|prompt_tokens": 40_000,
    "*|*|completion_tokens": 20_000,
    "*|*|cost_pico": 123_456_000_000,  # 0.123456 units
    "gpt-4o|v1|requests": 20,
    "gpt-4o|v1|prompt_tokens": 30_000,
    "gpt-4o|v1|completion_tokens": 15_000,
    "gpt-4o|v1|cost_pico": 100_000_000_000,
    "small|v1|requests": 10,
    "small|v1|prompt_tokens": 10_000,
    "small|v1|completion_tokens": 5_000,
    "small|v1|cost_pico": 23_456_000_000,
}


async def seed(harness: AdminHarness) -> None:
    """Plans, two tenants, three more users and acme's usage (month 2026-11, day 2026-11-21)."""
    limits = Limits(
        requests_per_minute=60,
        monthly_budget_micro=10_000_000,
        monthly_tokens=1_000_000,
        daily_tokens=100_000,
    )
    await harness.registry.put_plan(Plan(name="basic", limits=limits))
    await harness.registry.put_plan(Plan(name="free"))
    await harness.registry.put_tenant(Tenant(id="acme", name="Acme Corp", plan="basic"))
    await harness.registry.put_tenant(Tenant(id="globex", name="Globex", plan="free"))
    await harness.users.create("vic", UI_PASSWORD, AdminRole.VIEWER)
    await harness.users.create("tina", UI_PASSWORD, AdminRole.TENANT, tenant="acme")
    await harness.users.create("tom", UI_PASSWORD, AdminRole.TENANT, tenant="globex")
    harness.usage.usage[("acme", "2026-11")] = dict(ACME_MONTH)
    harness.usage.usage[("acme", "2026-11-21")] = dict(ACME_DAY)
    harness.usage.usage[("acme", "2026-11-20")] = {"*|*|requests": 5, "small|v1|requests": 5}


def text_of(html: str, element_id: str) -> str:
    """The text inside the element with this id (tags dropped, whitespace collapsed)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', html, re.S)
    assert match is not None, f"no #{element_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(2)).split())


def ids_in(html: str, attribute: str) -> list[str]:
    """The values of `attribute` (e.g. data-tenant) in the page, in order."""
    return re.findall(rf'{attribute}="([^"]+)"', html)

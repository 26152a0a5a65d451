"""The dashboard (/ui/): window totals, the top tenant and model tables, valid plotly figures in
`data-figure`, the empty state, the page without traffic statistics, a tenant user's redirect, and
plotly.js served from the installed wheel with a long cache."""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from admin_ui.app import create_app
from admin_ui.web.context import WebServices
from admin_ui.web.formatting import money_pico
from control_plane.model import AdminRole, TopEntry, TrafficBucket, TrafficSeries, TrafficWindow
from control_plane.traffic_stats import RedisTrafficStats
from ext_proc.governance.traffic_stats import TrafficStatsRecorder
from tests.support.fakes import ADMIN_TOKEN, AdminHarness
from tests.support.ui_pages import UI_BASE, UI_PASSWORD, sign_in

START = datetime(2026, 11, 21, 0, tzinfo=UTC)


class FakeTraffic:
    """A `TrafficStatsPort` answering a fixed series (and remembering the windows asked for)."""

    def __init__(self, series: TrafficSeries | None = None) -> None:
        self.series_value = series
        self.asked: list[TrafficWindow] = []

    async def series(self, window: TrafficWindow) -> TrafficSeries:
        self.asked.append(window)
        if self.series_value is not None:
            return self.series_value.model_copy(update={"window": window})
        buckets = tuple(TrafficBucket(start=START + timedelta(hours=i)) for i in range(window.buckets))
        return TrafficSeries(window=window, buckets=buckets)


def busy_series() -> TrafficSeries:
    buckets = tuple(
        TrafficBucket(
            start=START + timedelta(hours=i),
            requests=1_000 + i,
            errors=10 if i == 3 else 0,
            rejected=2,
            prompt_tokens=50_000,
            completion_tokens=25_000,
            cost_pico=1_250_000_000_000,  # 1.25 per hour
            latency_p50_ms=120.0,
            latency_p95_ms=900.0 if i == 5 else 400.0,
        )
        for i in range(24)
    )
    return TrafficSeries(
        window=TrafficWindow.DAY,
        buckets=buckets,
        top_tenants=(
            TopEntry(name="acme", requests=20_000, tokens=1_500_000, cost_pico=25_000_000_000_000),
            TopEntry(name="beta", requests=4_276, tokens=300_000, cost_pico=5_000_000),
        ),
        top_models=(TopEntry(name="gpt-x", requests=24_276, tokens=1_800_000, cost_pico=30 * 10**12),),
    )


@pytest.fixture
def traffic() -> FakeTraffic:
    return FakeTraffic(busy_series())


@pytest.fixture
def app(harness: AdminHarness, web: WebServices, traffic: FakeTraffic) -> FastAPI:
    return create_app(
        registry_port=harness.registry,
        xds_status=harness.xds_status,
        keys_port=harness.keys,
        usage_port=harness.usage,
        admin_token=ADMIN_TOKEN,
        users_port=harness.users,
        audit_port=harness.audit,
        traffic_port=traffic,
        web=web,
    )


def figures(page: str) -> dict[str, dict[str, object]]:
    found = re.findall(r'<div class="chart[^"]*" id="([^"]+)" data-figure="([^"]*)"', page)
    return {chart: orjson.loads(html_lib.unescape(raw)) for chart, raw in found}


def test_money_is_shown_in_currency_units() -> None:
    assert money_pico(0) == "0.00"
    assert money_pico(1_250_000_000_000) == "1.25"
    assert money_pico(125_000_000) == "0.000125"
    assert money_pico(1_234_567_890_000_000) == "1,234.56789"


async def test_the_dashboard_shows_the_window_totals_and_top_tables(
    client: httpx.AsyncClient, traffic: FakeTraffic
) -> None:
    await sign_in(client)
    traffic.asked.clear()  # signing in read the dashboard once
    response = await client.get("/ui/")
    assert response.status_code == 200
    page = response.text
    assert traffic.asked == [TrafficWindow.DAY]
    assert 'id="window-24h" href="/ui/?window=24h" class="current"' in page
    assert re.search(r'id="total-requests"><span class="value">24,276<', page)
    assert re.search(r'id="total-tokens"><span class="value">1,800,000<', page)
    assert re.search(r'id="total-cost"><span class="value">30.00<', page)
    assert re.search(r'id="total-errors"><span class="value">10 <small class="rate">0.04%', page)
    assert re.search(r'id="latency-p95"><span class="value">900 ms<', page)
    tenants = page[page.index('id="top-tenants"') :]
    assert re.search(r"<code>acme</code></a></td>\s*<td class=\"num\">20,000</td>\s*"
                     r"<td class=\"num\">1,500,000</td>\s*<td class=\"num\">25.00</td>", tenants)  # fmt: skip
    assert "0.000005" in tenants  # beta's cost
    assert re.search(r'id="top-models".*<code>gpt-x</code>', page, re.S)
    assert re.search(r'<span class="value">0</span><span class="label">Tenants</span>', page)
    assert '<script src="/ui/vendor/plotly.min.js" defer></script>' in page
    assert "<style" not in page
    assert " style=" not in page


async def test_the_figures_are_valid_plotly_json(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    charts = figures((await client.get("/ui/")).text)
    assert set(charts) == {
        "chart-requests",
        "chart-tokens",
        "chart-cost",
        "chart-latency",
        "chart-top-tenants",
        "chart-top-models",
    }
    requests = charts["chart-requests"]
    data = requests["data"]
    assert isinstance(data, list)
    assert [trace["name"] for trace in data] == ["Requests", "Errors", "Rejected"]
    assert len(data[0]["x"]) == 24
    assert data[0]["y"][0] == 1_000
    cost = charts["chart-cost"]["data"]
    assert isinstance(cost, list)
    assert cost[0]["y"][0] == pytest.approx(1.25)
    bars = charts["chart-top-tenants"]["data"]
    assert isinstance(bars, list)
    assert bars[0]["orientation"] == "h"
    assert bars[0]["y"] == ["beta", "acme"]


async def test_the_window_is_chosen_by_its_link(client: httpx.AsyncClient, traffic: FakeTraffic) -> None:
    await sign_in(client)
    traffic.asked.clear()
    page = (await client.get("/ui/", params={"window": "1h"})).text
    assert 'id="window-1h" href="/ui/?window=1h" class="current"' in page
    assert "Requests per minute" in html_lib.unescape(page)
    await client.get("/ui/", params={"window": "<script>"})  # anything else: the default
    assert traffic.asked == [TrafficWindow.HOUR, TrafficWindow.DAY]


async def test_a_window_without_traffic_shows_the_empty_state(
    client: httpx.AsyncClient, traffic: FakeTraffic
) -> None:
    traffic.series_value = None
    await sign_in(client)
    page = (await client.get("/ui/")).text
    assert 'id="traffic-empty"' in page
    assert "data-figure" not in page
    assert "plotly.min.js" not in page


async def test_without_traffic_statistics_only_the_registry_figures(
    harness: AdminHarness, web: WebServices
) -> None:
    app = create_app(
        registry_port=harness.registry,
        xds_status=harness.xds_status,
        keys_port=harness.keys,
        usage_port=harness.usage,
        admin_token=ADMIN_TOKEN,
        users_port=harness.users,
        web=web,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=UI_BASE) as client:
        await sign_in(client)
        page = (await client.get("/ui/")).text
    assert 'id="no-traffic"' in page
    assert 'id="figures"' in page
    assert 'id="total-requests"' not in page


async def test_a_tenant_user_is_sent_to_its_tenant(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await harness.users.create("acme-ops", UI_PASSWORD, AdminRole.TENANT, "acme")
    form_page = await client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form_page.text)
    assert token is not None
    await client.post("/ui/login", data={"username": "acme-ops", "password": UI_PASSWORD, "csrf": token[1]})
    response = await client.get("/ui/")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/tenants/acme"


async def test_plotly_js_is_served_with_a_long_cache(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui/vendor/plotly.min.js")  # no session needed: a public library
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "public, max-age=604800"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert b"plotly" in response.content[:2_000].lower()
    assert len(response.content) > 1_000_000


async def test_the_page_over_real_redis_statistics(
    harness: AdminHarness, web: WebServices, redis_client: aioredis.Redis
) -> None:
    now = datetime.now(UTC)
    recorder = TrafficStatsRecorder(redis_client)
    for i in range(3):
        recorder.record(
            {
                "tenant": "acme",
                "model": "gpt-x",
                "outcome": "ok",
                "started_at": (now - timedelta(milliseconds=150 + i)).isoformat(),
                "finished_at": now.isoformat(),
                "prompt_tokens": 1_000,
                "completion_tokens": 500,
                "cost_pico": 2_000_000_000_000,
            }
        )
    assert await recorder.flush()
    app = create_app(
        registry_port=harness.registry,
        xds_status=harness.xds_status,
        keys_port=harness.keys,
        usage_port=harness.usage,
        admin_token=ADMIN_TOKEN,
        users_port=harness.users,
        traffic_port=RedisTrafficStats(redis_client),
        web=web,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=UI_BASE) as client:
        await sign_in(client)
        page = (await client.get("/ui/", params={"window": "1h"})).text
    assert re.search(r'id="total-requests"><span class="value">3<', page)
    assert re.search(r'id="total-cost"><span class="value">6.00<', page)
    assert re.search(r'id="top-tenants".*<code>acme</code>', page, re.S)

"""The dashboard at /ui/: traffic charts (requests, tokens, cost, errors, latency; top tenants and models)
drawn with plotly.js, and registry/fleet figures. A tenant user is sent to its own tenant's page.

`?window=1h|24h|7d` picks the window (anything else: 24h). The figures are plotly figures built here as
JSON (`data-figure` attributes) and drawn by /ui/static/charts.js; plotly.js itself is served from the
installed `plotly` wheel at /ui/vendor/plotly.min.js (read once, kept in memory).
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from admin_ui.deps import Services
from admin_ui.web.charts import PICO_PER_UNIT, count_axis, layout, money_axis
from admin_ui.web.context import UI_PATH, PageServices, render
from admin_ui.web.formatting import count, money_pico
from admin_ui.web.guards import SignedIn, UiError, UiRoute
from control_plane.model import TopEntry, TrafficSeries, TrafficWindow
from control_plane.model.admin_user import AdminRole

__all__ = ["WINDOW_LABELS", "chart_figures", "plotly_js", "router", "totals"]

router = APIRouter(prefix=UI_PATH, route_class=UiRoute, include_in_schema=False)

WINDOW_LABELS: Mapping[TrafficWindow, str] = {
    TrafficWindow.HOUR: "Last hour",
    TrafficWindow.DAY: "Last 24 hours",
    TrafficWindow.WEEK: "Last 7 days",
}
_COLORS = {"blue": "#2563eb", "red": "#dc2626", "amber": "#d97706", "green": "#16a34a", "violet": "#7c3aed"}


@functools.cache
def plotly_js() -> bytes | None:
    """plotly.min.js from the installed `plotly` wheel (None when it is not installed)."""
    try:
        return (importlib.resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        return None


@router.get("/vendor/plotly.min.js")
async def plotly_asset() -> Response:
    """plotly.js for the charts (cached by browsers for a week: see `SecurityHeaders`)."""
    body = plotly_js()
    if body is None:
        raise UiError(404, "Not found", "plotly.js is not installed on this server.")
    return Response(body, media_type="text/javascript; charset=utf-8")


def totals(series: TrafficSeries) -> dict[str, Any]:
    """The window's totals as display strings: requests, tokens, cost, errors (count and rate), and the
    highest p95 latency of any bucket (the histograms are per bucket)."""
    buckets = series.buckets
    requests = sum(b.requests for b in buckets)
    errors = sum(b.errors for b in buckets)
    p95s = [b.latency_p95_ms for b in buckets if b.latency_p95_ms is not None]
    return {
        "requests": count(requests),
        "tokens": count(sum(b.prompt_tokens + b.completion_tokens for b in buckets)),
        "prompt_tokens": count(sum(b.prompt_tokens for b in buckets)),
        "completion_tokens": count(sum(b.completion_tokens for b in buckets)),
        "cost": money_pico(sum(b.cost_pico for b in buckets)),
        "errors": count(errors),
        "error_rate": f"{errors / requests:.2%}" if requests else "0.00%",
        "rejected": count(sum(b.rejected for b in buckets)),
        "cache_hits": count(sum(b.cache_hits for b in buckets)),
        "p95": f"{max(p95s):,.0f} ms" if p95s else "—",
        "empty": requests == 0,
    }


_TIME_AXIS = {"title": {"text": "time (UTC)"}}


def _line(name: str, x: Sequence[str], y: Sequence[float | int | None], color: str) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": list(x),
        "y": list(y),
        "line": {"color": _COLORS[color], "width": 2},
    }


def _bars(title: str, entries: Sequence[TopEntry], color: str) -> dict[str, Any]:
    ranked = list(reversed(entries))  # plotly draws the first bar at the bottom
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "Requests",
                "x": [e.requests for e in ranked],
                "y": [e.name for e in ranked],
                "marker": {"color": _COLORS[color]},
                "hovertemplate": "%{y}: %{x:,} requests<extra></extra>",
            }
        ],
        "layout": layout(
            title,
            xaxis=count_axis("requests", max((e.requests for e in entries), default=0)),
            yaxis={"automargin": True},
            showlegend=False,
            bargap=0.35,
        ),
    }


def chart_figures(series: TrafficSeries) -> dict[str, str]:
    """The dashboard's plotly figures (JSON text), by chart id."""
    step = "minute" if series.window is TrafficWindow.HOUR else "hour"
    x = [b.start.strftime("%Y-%m-%d %H:%M") for b in series.buckets]
    b = series.buckets
    figures: dict[str, dict[str, Any]] = {
        "chart-requests": {
            "data": [
                _line("Requests", x, [v.requests for v in b], "blue"),
                _line("Errors", x, [v.errors for v in b], "red"),
                _line("Rejected", x, [v.rejected for v in b], "amber"),
            ],
            "layout": layout(
                f"Requests per {step}",
                xaxis=_TIME_AXIS,
                yaxis=count_axis("requests", max((v.requests for v in b), default=0)),
            ),
        },
        "chart-tokens": {
            "data": [
                _line("Prompt tokens", x, [v.prompt_tokens for v in b], "blue"),
                _line("Completion tokens", x, [v.completion_tokens for v in b], "green"),
            ],
            "layout": layout(
                f"Tokens per {step}",
                xaxis=_TIME_AXIS,
                yaxis=count_axis(
                    "tokens", max((max(v.prompt_tokens, v.completion_tokens) for v in b), default=0)
                ),
            ),
        },
        "chart-cost": {
            "data": [
                {
                    "type": "bar",
                    "name": "Cost",
                    "x": x,
                    "y": [v.cost_pico / PICO_PER_UNIT for v in b],
                    "marker": {"color": _COLORS["violet"]},
                    "hovertemplate": "%{x}: %{y:,.6f}<extra></extra>",
                }
            ],
            "layout": layout(
                f"Cost per {step}",
                xaxis=_TIME_AXIS,
                yaxis=money_axis("cost (currency units)"),
                showlegend=False,
            ),
        },
        "chart-latency": {
            "data": [
                {**_line("p50", x, [v.latency_p50_ms for v in b], "green"), "mode": "lines+markers"},
                {**_line("p95", x, [v.latency_p95_ms for v in b], "red"), "mode": "lines+markers"},
            ],
            "layout": layout(
                f"Latency per {step}",
                xaxis=_TIME_AXIS,
                yaxis={"title": {"text": "milliseconds"}, "rangemode": "tozero", "tickformat": ",.0f"},
            ),
        },
        "chart-top-tenants": _bars("Top tenants by requests", series.top_tenants, "blue"),
        "chart-top-models": _bars("Top models by requests", series.top_models, "green"),
    }
    return {chart: orjson.dumps(figure).decode() for chart, figure in figures.items()}


def _top_rows(entries: Sequence[TopEntry]) -> list[dict[str, str]]:
    return [
        {
            "name": e.name,
            "requests": count(e.requests),
            "tokens": count(e.tokens),
            "cost": money_pico(e.cost_pico),
        }
        for e in entries
    ]


async def _registry_figures(services: Services) -> list[tuple[str, str]]:
    snapshot = await services.registry.snapshot()
    nodes = await services.xds_status.all()
    spec = snapshot.spec
    return [
        ("Tenants", count(len(spec.tenants))),
        ("Models", count(len(spec.models))),
        ("Plans", count(len(spec.plans))),
        ("Prices", count(len(spec.prices))),
        ("Upstream credentials", count(len(spec.credentials))),
        ("Envoy nodes", count(len(nodes))),
        ("Registry version", str(snapshot.version)),
    ]


def _window(value: str) -> TrafficWindow:
    try:
        return TrafficWindow(value)
    except ValueError:
        return TrafficWindow.DAY


@router.get("/")
async def dashboard(
    request: Request, session: SignedIn, services: PageServices, window: str = TrafficWindow.DAY.value
) -> Response:
    """Operators: the window's traffic and the registry figures. A tenant user: 303 to its tenant."""
    if session.role is AdminRole.TENANT:
        if not session.tenant:
            raise UiError(403, "Forbidden", "Your account is not linked to a tenant.")
        return RedirectResponse(f"{UI_PATH}/tenants/{quote(session.tenant, safe='')}", status_code=303)
    chosen = _window(window)
    context: dict[str, Any] = {
        "window": chosen.value,
        "window_label": WINDOW_LABELS[chosen],
        "windows": [(w.value, WINDOW_LABELS[w]) for w in TrafficWindow],
        "figures": await _registry_figures(services),
        "traffic": None,
    }
    if services.traffic is not None:
        series = await services.traffic.series(chosen)
        context["traffic"] = totals(series)
        context["charts"] = chart_figures(series)
        context["top_tenants"] = _top_rows(series.top_tenants)
        context["top_models"] = _top_rows(series.top_models)
    return render(request, "dashboard.html", context, session=session)

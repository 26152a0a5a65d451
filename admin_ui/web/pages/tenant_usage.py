"""What a tenant page shows about usage, computed from the ledger's raw counters (`usage_field` →
integer): this month's totals, the budget left, usage per day (a plotly figure) and per day and model.

Pure functions of the counters and the tenant's effective limits, so the numbers are tested without a
page. Costs in the counters are pico-units (1e-12); pages show currency units from micro-units
(`pico_to_micro`, as invoices round), with thousands separators.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import orjson

from admin_ui.web.charts import PICO_PER_UNIT, count_axis, layout, money_axis
from admin_ui.web.formatting import count, money_micro
from control_plane.keys import TOTAL, usage_field
from control_plane.model import Limits
from control_plane.usage import pico_to_micro

__all__ = [
    "USAGE_DAYS",
    "BudgetRow",
    "DayModelRow",
    "Totals",
    "budget_rows",
    "by_day_and_model",
    "cost_figure",
    "last_days",
    "totals",
    "usage_figure",
]

USAGE_DAYS = 30
"""How many days (today included) the usage chart and the per-day table cover."""


def last_days(today: date, days: int = USAGE_DAYS) -> list[str]:
    """The `days` UTC days ending with `today`, oldest first, as `YYYY-MM-DD`."""
    return [(today - timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]


def _total(counters: Mapping[str, int], metric: str) -> int:
    return int(counters.get(usage_field(TOTAL, TOTAL, metric), 0))


@dataclass(frozen=True, slots=True)
class Totals:
    """A period's tenant totals (the `*|*|<metric>` fields)."""

    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_micro: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def totals(counters: Mapping[str, int]) -> Totals:
    """The tenant totals of one usage hash (month or day)."""
    return Totals(
        requests=_total(counters, "requests"),
        prompt_tokens=_total(counters, "prompt_tokens"),
        completion_tokens=_total(counters, "completion_tokens"),
        cost_micro=pico_to_micro(_total(counters, "cost_pico")),
    )


@dataclass(frozen=True, slots=True)
class BudgetRow:
    """One budget line: what the limit is, how much of it is used this period and what is left
    (`limit` None: no budget on this dimension)."""

    key: str
    label: str
    limit: str | None
    used: str
    left: str | None
    exhausted: bool


def budget_rows(limits: Limits, month: Totals, today: Totals) -> list[BudgetRow]:
    """The monthly budget (money), monthly tokens and daily tokens, each against what is used (the same
    counters ext_proc admits requests against)."""

    def row(key: str, label: str, limit: int | None, used: int, show: Callable[[int], str]) -> BudgetRow:
        if limit is None:
            return BudgetRow(key, label, None, show(used), None, False)
        left = limit - used
        return BudgetRow(key, label, show(limit), show(used), show(max(0, left)), left <= 0)

    return [
        row(
            "monthly_budget_micro",
            "Monthly budget",
            limits.monthly_budget_micro,
            month.cost_micro,
            money_micro,
        ),
        row("monthly_tokens", "Monthly tokens", limits.monthly_tokens, month.tokens, count),
        row("daily_tokens", "Tokens today", limits.daily_tokens, today.tokens, count),
    ]


@dataclass(frozen=True, slots=True)
class DayModelRow:
    """Usage of one model on one day (summed over its price versions)."""

    day: str
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_micro: int


def by_day_and_model(days: Mapping[str, Mapping[str, int]]) -> list[DayModelRow]:
    """One row per day and model with any usage, newest day first, then by model name."""
    rows: list[DayModelRow] = []
    for day in sorted(days, reverse=True):
        per_model: dict[str, dict[str, int]] = {}
        for field, value in days[day].items():
            parts = field.split("|")
            if len(parts) != 3 or parts[0] == TOTAL:
                continue
            metrics = per_model.setdefault(parts[0], {})
            metrics[parts[2]] = metrics.get(parts[2], 0) + int(value)
        for model in sorted(per_model):
            m = per_model[model]
            row = DayModelRow(
                day=day,
                model=model,
                requests=m.get("requests", 0),
                prompt_tokens=m.get("prompt_tokens", 0),
                completion_tokens=m.get("completion_tokens", 0),
                cost_micro=pico_to_micro(m.get("cost_pico", 0)),
            )
            if row.requests or row.prompt_tokens or row.completion_tokens or row.cost_micro:
                rows.append(row)
    return rows


def _days_layout(title: str, **extra: Any) -> dict[str, Any]:
    """The shared layout with the tenant charts' days axis and room for a right-hand axis."""
    return layout(
        title,
        margin={"l": 60, "r": 60, "t": 50, "b": 50},
        xaxis={"type": "date", "tickformat": "%b %d"},
        **extra,
    )


def usage_figure(days: Sequence[str], usage: Mapping[str, Mapping[str, int]]) -> str:
    """Requests (bars, left axis) and tokens (a line, right axis) per day, as a plotly figure (JSON)."""
    per_day = [totals(usage.get(day, {})) for day in days]
    figure = {
        "data": [
            {"type": "bar", "name": "Requests", "x": list(days), "y": [t.requests for t in per_day]},
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Tokens",
                "x": list(days),
                "y": [t.tokens for t in per_day],
                "yaxis": "y2",
            },
        ],
        "layout": _days_layout(
            "Requests and tokens per day",
            yaxis=count_axis("requests", max((t.requests for t in per_day), default=0)),
            yaxis2={
                **count_axis("tokens", max((t.tokens for t in per_day), default=0)),
                "overlaying": "y",
                "side": "right",
            },
        ),
    }
    return orjson.dumps(figure).decode()


def cost_figure(days: Sequence[str], usage: Mapping[str, Mapping[str, int]]) -> str:
    """Cost per day in currency units (bars), as a plotly figure (JSON)."""
    costs = [_total(usage.get(day, {}), "cost_pico") / PICO_PER_UNIT for day in days]
    figure = {
        "data": [{"type": "bar", "name": "Cost", "x": list(days), "y": costs}],
        "layout": _days_layout("Cost per day", yaxis=money_axis("cost"), showlegend=False),
    }
    return orjson.dumps(figure).decode()

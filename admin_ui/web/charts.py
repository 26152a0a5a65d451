"""What the UI's plotly figures share: the layout defaults, an axis of counts (whole-number ticks), an
axis of money (currency units, up to 6 decimals) and the pico-units (1e-12) in a currency unit.

Figures are built as plain dicts on the server, serialised to JSON (`data-figure`) and drawn by
/ui/static/charts.js; the dashboard and the tenant page use the same rules so their charts read alike.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MONEY_TICKS", "PICO_PER_UNIT", "count_axis", "layout", "money_axis"]

PICO_PER_UNIT = 10**12
"""Usage counters hold costs in pico-units; a chart plots currency units (`cost_pico / PICO_PER_UNIT`)."""

MONEY_TICKS = ",.6~f"
"""Money ticks: thousands separated, up to 6 decimals, trailing zeros dropped."""

_SMALL_PEAK = 5


def count_axis(title: str, peak: int) -> dict[str, Any]:
    """An axis of counts: whole-number ticks (one per unit while the peak is small, so that plotly never
    puts ticks at 0.5 and prints them rounded twice)."""
    axis: dict[str, Any] = {"title": {"text": title}, "rangemode": "tozero", "tickformat": ",d"}
    if peak <= _SMALL_PEAK:
        axis.update(tick0=0, dtick=1, range=[0, max(peak, 1) * 1.15])
    return axis


def money_axis(title: str) -> dict[str, Any]:
    """An axis of money in currency units."""
    return {"title": {"text": title}, "rangemode": "tozero", "tickformat": MONEY_TICKS}


def layout(title: str, **extra: Any) -> dict[str, Any]:
    """A figure's layout: its title and a horizontal legend above the plot at the right; `extra` keys
    (axes, margins, `showlegend`, ...) are added or replace the defaults."""
    return {
        "title": {"text": title},
        "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
        **extra,
    }

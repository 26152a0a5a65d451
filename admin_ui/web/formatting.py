"""How the admin UI's pages show numbers, money and times, and the fixed notices after a redirect.

- counts with thousands separators (`12,345`; `—` for none);
- money in currency units with 2 to 6 decimals, from micro-units (1e-6) or pico-units (1e-12; rounded
  half up to micro-units, exactly as invoices round: `control_plane.usage.pico_to_micro`);
- UTC times to the second;
- `?done=<code>` notices: a page maps its own codes to fixed text (the URL never carries free text);
- `whole`: a number from a query parameter, clamped (a bad `?page=` shows the first page, no error).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from control_plane.usage import pico_to_micro

__all__ = ["count", "done_notice", "money_micro", "money_pico", "per_1m", "percent", "utc_text", "whole"]

_MICRO_PER_UNIT = 1_000_000


def count(value: int | None) -> str:
    """An integer with thousands separators: `12,345`; `—` for None."""
    return "—" if value is None else f"{value:,}"


def money_micro(micro: int) -> str:
    """Micro-units as currency units, thousands separated, 2 to 6 decimals (exact integer arithmetic):
    1_234_567_800 → `1,234.5678`, 1_500_000 → `1.50`, 125 → `0.000125`."""
    sign = "-" if micro < 0 else ""
    units, fraction = divmod(abs(micro), _MICRO_PER_UNIT)
    decimals = f"{fraction:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}{units:,}.{decimals}"


def money_pico(pico: int) -> str:
    """Pico-units as currency units (rounded half up to micro-units, as invoice lines are)."""
    return money_micro(pico_to_micro(pico)) if pico >= 0 else "-" + money_micro(pico_to_micro(-pico))


def per_1m(micro: int) -> str:
    """A token price (micro-units per 1M tokens) for a table cell: `0.15 / 1M`."""
    return f"{money_micro(micro)} / 1M"


def percent(ratio: float) -> str:
    """A ratio in [0, 1] as a percentage with one decimal: `83.3 %`."""
    return f"{ratio * 100:.1f} %"


def utc_text(moment: datetime | None) -> str:
    """A moment in UTC to the second: `2026-11-21 12:00:05 UTC`; `—` for None (a naive time is UTC)."""
    if moment is None:
        return "—"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def done_notice(code: str | None, messages: Mapping[str, str]) -> str | None:
    """The fixed message of a `?done=` code, or None for a missing or unknown code."""
    return messages.get(code) if code else None


def whole(text: str | None, default: int, *, low: int = 1, high: int = 1_000_000) -> int:
    """A whole number from a query parameter, clamped to [low, high]; `default` when it is missing or
    not a number."""
    try:
        value = int((text or "").strip())
    except ValueError:
        return default
    return min(max(low, value), high)

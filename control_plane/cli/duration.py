"""Durations as operators type them: `60s`, `15m`, `12h`, `30d`."""

from __future__ import annotations

import re
from datetime import timedelta
from types import MappingProxyType

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^\s*([0-9]+)\s*([smhd])\s*$")
_UNIT_SECONDS = MappingProxyType({"s": 1, "m": 60, "h": 3600, "d": 86400})
_MAX = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """`<integer><unit>` with unit s, m, h or d; ValueError (with a readable message) otherwise."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 60s, 15m, 12h or 30d")
    value = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if value > _MAX:
        raise ValueError(f"{text!r} is longer than ten years")
    return value

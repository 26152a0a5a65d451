"""Reads the tenant usage hashes ext_proc's ledger keeps: one per UTC month
(`tw:{t:<tenant>}:usage:<YYYY-MM>`) and one per UTC day (`tw:{t:<tenant>}:usage:<YYYY-MM-DD>`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date

from redis.exceptions import RedisError

from control_plane.errors import StoreUnavailableError, UsagePeriodError
from control_plane.keys import tenant_usage
from control_plane.redis_client import RedisClient

__all__ = ["RedisUsageReader", "check_day", "check_month"]

_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_UNREACHABLE = "the usage store (Redis/Valkey) is unreachable"


def check_month(month: str) -> str:
    """`month` if it is a UTC month `YYYY-MM`, else UsagePeriodError."""
    if not _MONTH.fullmatch(month):
        raise UsagePeriodError(f"month {month!r} is not of the form YYYY-MM (e.g. 2026-11)")
    return month


def check_day(day: str) -> str:
    """`day` if it is a UTC calendar day `YYYY-MM-DD`, else UsagePeriodError."""
    valid = bool(_DAY.fullmatch(day))
    if valid:
        try:
            date.fromisoformat(day)
        except ValueError:
            valid = False
    if not valid:
        raise UsagePeriodError(f"day {day!r} is not a date of the form YYYY-MM-DD (e.g. 2026-11-21)")
    return day


def _counters(raw: Mapping[bytes | str, bytes | str]) -> dict[str, int]:
    """A usage hash as `usage_field` → integer; fields that are not integers are skipped."""
    usage: dict[str, int] = {}
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else field
        text = value.decode() if isinstance(value, bytes) else value
        try:
            usage[name] = int(text)
        except ValueError:
            continue  # not a counter of ours; an invoice must not fail on it
    return usage


class RedisUsageReader:
    """The raw counters of one tenant per month or per day: `usage_field` → integer (an absent hash is
    no usage)."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client

    async def month_usage(self, tenant: str, month: str) -> dict[str, int]:
        key = tenant_usage(tenant, check_month(month))
        try:
            raw: dict[bytes | str, bytes | str] = await self._client.hgetall(key)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return _counters(raw)

    async def day_usage(self, tenant: str, days: Sequence[str]) -> dict[str, dict[str, int]]:
        """The counters of each of `days` (`YYYY-MM-DD`, UTC), read in one pipeline; a day without
        usage maps to an empty dict."""
        checked = [check_day(day) for day in days]
        if not checked:
            return {}
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for day in checked:
                    pipe.hgetall(tenant_usage(tenant, day))
                replies: list[dict[bytes | str, bytes | str]] = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return {day: _counters(raw) for day, raw in zip(checked, replies, strict=True)}

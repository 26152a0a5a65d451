"""Reads the tenant usage hashes ext_proc's ledger keeps (`tw:{t:<tenant>}:usage:<YYYY-MM>`)."""

from __future__ import annotations

import re

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from control_plane.errors import StoreUnavailableError, UsagePeriodError
from control_plane.keys import tenant_usage

__all__ = ["RedisUsageReader", "check_month"]

_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def check_month(month: str) -> str:
    """`month` if it is a UTC month `YYYY-MM`, else UsagePeriodError."""
    if not _MONTH.fullmatch(month):
        raise UsagePeriodError(f"month {month!r} is not of the form YYYY-MM (e.g. 2026-11)")
    return month


class RedisUsageReader:
    """The raw counters of one tenant and month: `usage_field` → integer (absent hash = no usage)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def month_usage(self, tenant: str, month: str) -> dict[str, int]:
        key = tenant_usage(tenant, check_month(month))
        try:
            raw: dict[bytes | str, bytes | str] = await self._client.hgetall(key)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError("the usage store (Redis/Valkey) is unreachable") from exc
        usage: dict[str, int] = {}
        for field, value in raw.items():
            name = field.decode() if isinstance(field, bytes) else field
            text = value.decode() if isinstance(value, bytes) else value
            try:
                usage[name] = int(text)
            except ValueError:
                continue  # not a counter of ours; an invoice must not fail on it
        return usage

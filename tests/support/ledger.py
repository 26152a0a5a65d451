"""Reading a tenant's ledger records straight from Redis in integration tests (the writer is async)."""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis

from control_plane.keys import tenant_ledger

__all__ = ["ledger_records"]


def ledger_records(
    redis_url: str, tenant: str, request_id: str, *, timeout_s: float = 15.0
) -> list[dict[str, Any]]:
    """The tenant's ledger records of `request_id`, once at least one was written (or [] after timeout)."""
    store = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            records = [orjson.loads(fields[b"r"]) for _id, fields in store.xrange(tenant_ledger(tenant))]
            mine = [r for r in records if r["request_id"] == request_id]
            if mine or time.monotonic() > deadline:
                return mine
            time.sleep(0.05)
    finally:
        store.close()

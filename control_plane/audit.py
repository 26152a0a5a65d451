"""The audit log of admin actions: who changed what, when, and the object before and after.

Entries are appended to one Redis stream (`tw:{admin}:audit`, field `a` = the entry's JSON), newest
last, capped near `max_entries` (the oldest go first). Reads page backwards from the newest by stream
id. The writer never puts secrets in an entry: `admin_ui.audited` builds `before`/`after` from the
public shape of each object (no key secret or hash, no password hash, no credential value).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from redis.exceptions import RedisError

from control_plane.errors import StoreUnavailableError
from control_plane.keys import ADMIN_AUDIT
from control_plane.model import AuditEntry
from control_plane.redis_client import RedisClient

__all__ = ["AUDIT_MAX_ENTRIES", "AuditPage", "RedisAuditLog"]

_log = logging.getLogger(__name__)
_UNREACHABLE = "the audit log (Redis/Valkey) is unreachable"

AUDIT_MAX_ENTRIES = 1_000_000
"""About this many entries are kept (the stream is trimmed approximately, oldest first)."""

_SCAN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Entries newest first, with their ids; `next_before` continues the listing (None at the end)."""

    entries: tuple[tuple[str, AuditEntry], ...]
    next_before: str | None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisAuditLog:
    """Appends and pages through audit entries in a Redis stream."""

    def __init__(
        self,
        client: RedisClient,
        *,
        max_entries: int = AUDIT_MAX_ENTRIES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._max_entries = max_entries
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def append(self, entry: AuditEntry) -> str:
        """Add `entry`; its stream id."""
        try:
            entry_id = await self._client.xadd(
                ADMIN_AUDIT,
                {"a": entry.model_dump_json()},
                maxlen=self._max_entries,
                approximate=True,
            )
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return _text(entry_id)

    async def page(
        self,
        *,
        limit: int = 50,
        before: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        max_scan: int = 20_000,
    ) -> AuditPage:
        """Up to `limit` entries older than id `before` (newest first) that match every filter given:
        `actor` exactly, `action` as a prefix (`tenant.` = every tenant action), `target` exactly.
        At most `max_scan` entries are looked at per call; `next_before` then continues from there."""
        limit = max(1, min(limit, 1_000))
        wanted: list[tuple[str, AuditEntry]] = []
        cursor = f"({before}" if before and _valid_id(before) else "+"  # a bad cursor: from the newest
        scanned = 0
        try:
            while len(wanted) < limit and scanned < max_scan:
                rows = await self._client.xrevrange(ADMIN_AUDIT, max=cursor, min="-", count=_SCAN_CHUNK)
                if not rows:
                    return AuditPage(tuple(wanted), None)
                for raw_id, fields in rows:
                    entry_id = _text(raw_id or "")
                    scanned += 1
                    cursor = f"({entry_id}"
                    entry = self._parse(entry_id, fields)
                    if entry is not None and _matches(entry, actor, action, target):
                        wanted.append((entry_id, entry))
                        if len(wanted) == limit:
                            return AuditPage(tuple(wanted), entry_id)
                if len(rows) < _SCAN_CHUNK:
                    return AuditPage(tuple(wanted), None)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(_UNREACHABLE) from exc
        return AuditPage(tuple(wanted), cursor.removeprefix("("))

    @staticmethod
    def _parse(entry_id: str, fields: dict[bytes | str, bytes | str] | None) -> AuditEntry | None:
        raw = (fields or {}).get(b"a", (fields or {}).get("a"))
        if raw is None:
            return None
        try:
            return AuditEntry.model_validate_json(raw)
        except ValidationError:
            _log.warning("audit entry %s is not readable; skipped", entry_id)
            return None


def _valid_id(entry_id: str) -> bool:
    """Whether `entry_id` is a stream id Redis accepts as an exclusive bound (`<ms>-<seq>`, both
    unsigned 64-bit, not `0-0`)."""
    ms, dash, seq = entry_id.partition("-")
    if not (dash and ms.isdigit() and seq.isdigit() and len(ms) <= 20 and len(seq) <= 20):
        return False
    return int(ms) < 2**64 and int(seq) < 2**64 and (int(ms), int(seq)) != (0, 0)


def _matches(entry: AuditEntry, actor: str | None, action: str | None, target: str | None) -> bool:
    return (
        (not actor or entry.actor == actor)
        and (not action or entry.action.startswith(action))
        and (not target or entry.target == target)
    )

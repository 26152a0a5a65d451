"""An in-memory audit log with `RedisAuditLog`'s interface, for the admin harness."""

from datetime import UTC, datetime

from control_plane.audit import AuditPage
from control_plane.model import AuditEntry


class MemoryAuditLog:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def append(self, entry: AuditEntry) -> str:
        self.entries.append(entry)
        return f"{len(self.entries)}-0"

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
        end = int(before.split("-")[0]) - 1 if before else len(self.entries)
        found: list[tuple[str, AuditEntry]] = []
        for index in range(end, 0, -1):
            entry = self.entries[index - 1]
            if (actor and entry.actor != actor) or (action and not entry.action.startswith(action)):
                continue
            if target and entry.target != target:
                continue
            found.append((f"{index}-0", entry))
            if len(found) == limit:
                return AuditPage(tuple(found), f"{index}-0" if index > 1 else None)
        return AuditPage(tuple(found), None)

    def actions(self) -> list[tuple[str, str, str]]:
        """(actor, action, target) of every entry, oldest first."""
        return [(e.actor, e.action, e.target) for e in self.entries]

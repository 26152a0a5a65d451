"""The audit log at /ui/audit: every change made through the admin UI or API, newest first — when (UTC),
who, what, to what, and the object before and after, shown as the fields that changed (`field: old →
new`) or, for a created or deleted object, its fields folded away in a <details>.

Filters (a GET form): actor exactly, action as a prefix (`tenant.` = every tenant action), target
exactly. "Older" continues with `before=<the last shown entry's id>`. Operators only (viewers too).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from admin_ui.web.context import UI_PATH, PageServices, render
from admin_ui.web.formatting import utc_text, whole
from admin_ui.web.guards import Operator, UiRoute
from control_plane.model import AuditEntry

__all__ = ["AuditRow", "Change", "audit_row", "describe_change", "dotted_fields", "router"]

router = APIRouter(route_class=UiRoute)

PATH = f"{UI_PATH}/audit"
NOT_CONFIGURED = "The audit log is not configured on this server: changes are not recorded."
PER_PAGE = 50
_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_MAX_FILTER_CHARS = 200
_MAX_VALUE_CHARS = 160
_CREATED = (".create", ".put", ".register")
_DELETED = (".delete", ".remove", ".deregister")
_INLINE_FIELDS = 2


@dataclass(frozen=True, slots=True)
class Change:
    """How an entry's before/after reads: `changed` (the differing fields), `created` / `deleted` /
    `recorded` / `before` (one object's fields), `unchanged`, or `none`."""

    kind: str
    diffs: tuple[tuple[str, str, str], ...] = ()
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def folded(self) -> bool:
        """Whether the fields are folded in a <details> (whole objects; short notes stay inline)."""
        return self.kind in ("created", "deleted") or len(self.fields) > _INLINE_FIELDS


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One entry of the `#audit` table, formatted for reading."""

    entry_id: str
    at: str
    actor: str
    action: str
    target: str
    change: Change


def dotted_fields(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted paths (`limits.requests_per_minute`); lists and scalars are leaves, kept
    as JSON values to compare and show (unlike `editing.flatten`, which makes form input texts)."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            out.update(dotted_fields(item, f"{path}."))
        else:
            out[path] = item
    return out


def _show(value: Any) -> str:
    """A JSON value, compact: strings bare, `null` as `none`, the rest as JSON; long ones cut short."""
    if value is None:
        text = "none"
    elif isinstance(value, str):
        text = value if value else '""'
    else:
        text = orjson.dumps(value).decode()
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def describe_change(action: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> Change:
    """What an entry's before and after say, readably (see `Change`)."""
    if before is not None and after is not None:
        old, new = dotted_fields(before), dotted_fields(after)
        diffs = tuple(
            (name, _show(old[name]) if name in old else "—", _show(new[name]) if name in new else "—")
            for name in sorted(old.keys() | new.keys())
            if old.get(name) != new.get(name) or (name in old) != (name in new)
        )
        return Change("changed", diffs=diffs) if diffs else Change("unchanged")
    obj = after if after is not None else before
    if obj is None:
        return Change("none")
    fields = tuple((name, _show(value)) for name, value in dotted_fields(obj).items())
    if after is not None:
        kind = "created" if action.endswith(_CREATED) else "recorded"
    else:
        kind = "deleted" if action.endswith(_DELETED) else "before"
    return Change(kind, fields=fields)


def audit_row(entry_id: str, entry: AuditEntry) -> AuditRow:
    return AuditRow(
        entry_id=entry_id,
        at=utc_text(entry.at),
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        change=describe_change(entry.action, entry.before, entry.after),
    )


def _filter(value: str | None) -> str:
    return (value or "").strip()[:_MAX_FILTER_CHARS]


@router.get("/audit")
async def audit_page(
    request: Request,
    session: Operator,
    services: PageServices,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    before: str | None = None,
    per_page: str | None = None,
) -> Response:
    """One page of the audit log, newest first, filtered; a link to the older entries."""
    filters = {"actor": _filter(actor), "action": _filter(action), "target": _filter(target)}
    context: dict[str, Any] = {"configured": services.audit is not None, "filters": filters}
    if services.audit is None:
        return render(request, "audit.html", context, session=session)
    cursor = before if before and _ENTRY_ID.match(before) else None
    limit = whole(per_page, PER_PAGE, high=500)
    page = await services.audit.page(
        limit=limit,
        before=cursor,
        actor=filters["actor"] or None,
        action=filters["action"] or None,
        target=filters["target"] or None,
    )
    kept = [(k, v) for k, v in filters.items() if v]
    if limit != PER_PAGE:
        kept.append(("per_page", str(limit)))
    older = f"{PATH}?{urlencode([*kept, ('before', page.next_before)])}" if page.next_before else None
    newest = (f"{PATH}?{urlencode(kept)}" if kept else PATH) if cursor else None
    context.update(
        rows=[audit_row(entry_id, entry) for entry_id, entry in page.entries],
        older=older,
        newest=newest,
        filtered=bool(kept and any(filters.values())),
    )
    return render(request, "audit.html", context, session=session)

"""What the registry editing pages (plans, models, prices) share: the admin-only check of a form page,
the fixed notices after a redirect, placing validation messages under the right input, turning domain
objects back into form values, and number formatting (thousands separators, money from micro-units)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from admin_ui.web.forms import FORM_ERROR, field_errors
from admin_ui.web.guards import READ_ONLY, UiError
from admin_ui.web.sessions import Session
from control_plane.errors import RegistryConflictError, RegistryValidationError
from control_plane.model.admin_user import AdminRole

__all__ = [
    "PATTERN_MESSAGE",
    "FormState",
    "attach_errors",
    "flatten",
    "pretty_json",
    "require_admin",
    "save_or_show_again",
    "validation_state",
]

_MICRO = Decimal(1_000_000)


def require_admin(session: Session) -> None:
    """A form page (new, edit) is for admins: a viewer gets the read-only 403 page."""
    if session.role is not AdminRole.ADMIN:
        raise UiError(403, "Forbidden", READ_ONLY)


def attach_errors(errors: Mapping[str, str], fields: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Each message placed under an input: a key that names an input stays; a deeper key goes to the
    input that holds it, its remaining path first (`traffic.retry.attempts` → `traffic`: "retry.attempts:
    …"); a key of a group (`billing`) goes to the group's first input. The rest (`""`, the whole object)
    are returned as top-of-form messages."""
    ordered = list(dict.fromkeys(fields))
    names = sorted(ordered, key=len, reverse=True)
    placed: dict[str, str] = {}
    top: list[str] = []
    for key, raw in errors.items():
        message = _readable(raw)
        target = next((n for n in names if key == n or key.startswith(n + ".")), None)
        if target is not None:
            rest = key[len(target) + 1 :]
            text = message if not rest else f"{_where(rest)}: {message}"
        else:
            target = next((n for n in ordered if key and n.startswith(key + ".")), None)
            text = message
        if target is None:
            top.append(message)
        else:
            placed.setdefault(target, text)
    return placed, top


PATTERN_MESSAGE = "Not in the expected format (see the hint under this field)."
"""What replaces pydantic's "String should match pattern '<regex>'" (a regex helps nobody)."""


def _readable(message: str) -> str:
    return PATTERN_MESSAGE if message.startswith("String should match pattern") else message


def _where(rest: str) -> str:
    """A remaining path for a reader: `3` → `item 4`, `retry.attempts` as it is."""
    return f"item {int(rest) + 1}" if rest.isdigit() else rest


def validation_state(exc: ValidationError, fields: Iterable[str], *, prefix: str = "") -> FormState:
    """A failed validation as a form state: messages under their inputs, the rest at the top."""
    placed, top = attach_errors(field_errors(exc, prefix=prefix), fields)
    return FormState(errors=placed, error="; ".join(top) if top else FORM_ERROR)


@dataclass(slots=True)
class FormState:
    """What a re-rendered form shows: `errors` under inputs (dotted name → message) and `error` at the
    top (a consistency problem, or "correct the fields below")."""

    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A domain object's JSON dump as form values by dotted name (None → "", lists one per line)."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, prefix=f"{name}."))
        elif isinstance(value, list | tuple):
            out[name] = "\n".join(str(v) for v in value)
        elif value is None:
            out[name] = ""
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


def pretty_json(value: Any) -> str:
    """A JSON value as an indented text for a textarea."""
    return json.dumps(value, indent=2)


async def save_or_show_again(
    write: Awaitable[object], again: Callable[..., Response], *, done_url: str
) -> Response:
    """Run a registry write: 303 to `done_url` when it is done, else the form again with the registry's
    message (422 for a refused write, 409 for a concurrent change)."""
    try:
        await write
    except RegistryValidationError as exc:
        return again(FormState(error=str(exc)))
    except RegistryConflictError as exc:
        return again(FormState(error=str(exc)), status_code=409)
    return RedirectResponse(done_url, status_code=303)

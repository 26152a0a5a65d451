"""Turning form posts into domain objects and their validation errors into messages next to fields.

A page builds a plain dict from its form fields (`blank_to_none` for optional numbers), validates it
with the domain model, and on `pydantic.ValidationError` renders the form again with `field_errors(exc)`:
`{"limits.requests_per_minute": "Input should be greater than 0", ...}`; the template shows each message
under the input of that name (the `field` macro in `_macros.html`). Registry consistency errors (a plan
still in use, a model missing) have no field: they go to the form's top as `error`.

`form_text` reads one text field of a post; `whole_number` reads a bounded whole number typed by a
person (`1,000`, `1_000` and `1 000` allowed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

__all__ = ["FORM_ERROR", "blank_to_none", "field_errors", "form_text", "lines", "nest", "whole_number"]

FORM_ERROR = "Please correct the fields marked below."
"""The form's top message when any field is wrong."""

_WHOLE = re.compile(r"[+-]?[0-9]{1,40}")


def field_errors(exc: ValidationError, *, prefix: str = "") -> dict[str, str]:
    """One message per field (the first one wins), keyed by the dotted field path (`prefix` first).
    An error of the whole object (a model validator) is keyed by `prefix` alone, or `""`."""
    errors: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        parts = [str(p) for p in error.get("loc", ())]
        key = ".".join([prefix, *parts] if prefix else parts)
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        errors.setdefault(key, message)
    return errors


def blank_to_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values with blank strings dropped: an empty input means "not set" (the model's
    default), never the empty string."""
    return {k: v for k, v in values.items() if not (isinstance(v, str) and v.strip() == "")}


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted names to nested dicts: `{"limits.requests_per_minute": "60"}` → `{"limits": {...}}`."""
    out: dict[str, Any] = {}
    for name, value in flat.items():
        node = out
        *parents, leaf = name.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"form field {name!r} clashes with {part!r}")
            node = child
        node[leaf] = value
    return out


def lines(text: str) -> list[str]:
    """A textarea of one item per line (or comma separated): the non-blank items, trimmed."""
    items: Iterable[str] = (part.strip() for line in text.splitlines() for part in line.split(","))
    return [item for item in items if item]


def form_text(form: Mapping[str, Any], name: str, *, strip: bool = True) -> str:
    """A posted text field, trimmed; `""` when it is missing or not text (a file). Passwords are read
    with `strip=False`: their spaces are part of them."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value


def whole_number(text: str, *, low: int, high: int) -> int | None:
    """A whole number in [low, high] as a person types it: thousands separators (`,` `_` and spaces)
    are dropped; None when blank. Raises ValueError with a readable message when it is not a whole
    number or out of range."""
    digits = "".join(text.split()).replace(",", "").replace("_", "")
    if not digits:
        return None
    value = int(digits) if _WHOLE.fullmatch(digits) else None
    if value is None or not low <= value <= high:
        raise ValueError(f"Enter a whole number from {low:,} to {high:,}.")
    return value

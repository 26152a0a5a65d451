"""Prices per model and effective date: list, add, remove, with validation errors next to each field.

`/ui/prices` lists every price version by model, newest first, marking the one in force now (a later
one is "scheduled", earlier ones "superseded"); admins get the `#new-price` form (posts to
`/ui/prices`; a version with the same model and start replaces it) and a remove button per version
(posts to `/ui/prices/delete`). Prices are integers of micro-units per 1M tokens; the page shows them in
currency units.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from admin_ui.web.context import UI_PATH, PageServices, render
from admin_ui.web.formatting import done_notice, money_micro, per_1m, utc_text
from admin_ui.web.forms import blank_to_none
from admin_ui.web.guards import AdminForm, Operator, UiError, UiRoute
from admin_ui.web.pages.editing import FormState, validation_state
from admin_ui.web.sessions import Session
from control_plane.errors import RegistryConflictError, RegistryNotFoundError, RegistryValidationError
from control_plane.model import Price, RegistrySpec
from control_plane.model.price import price_at

__all__ = ["PRICE_FIELDS", "PRICE_LABELS", "router"]

router = APIRouter(prefix=UI_PATH, route_class=UiRoute, include_in_schema=False)

PRICE_LABELS: Mapping[str, str] = {
    "input_per_1m_micro": "Input",
    "cached_input_per_1m_micro": "Cached input",
    "output_per_1m_micro": "Output",
    "cache_hit_per_1m_micro": "Cache hit",
}
"""Each per-1M-tokens price of `Price`, with its column label."""
PRICE_FIELDS: tuple[str, ...] = ("model", "effective_from", *PRICE_LABELS)
"""The inputs of the new-price form."""

_DONE = {
    "added": "Price added.",
    "replaced": "Price replaced (same model and start).",
    "removed": "Price removed.",
}
_LOCAL_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?")


def _status(price: Price, current: Price | None, now: datetime) -> str:
    if price.effective_from > now:
        return "scheduled"
    return "in force" if price == current else "superseded"


def _rows(spec: RegistrySpec, now: datetime) -> list[dict[str, Any]]:
    """Every price version, by model then newest first."""
    ordered = sorted(spec.prices, key=lambda p: (p.model, -p.effective_from.timestamp()))
    rows = []
    previous_model = None
    for price in ordered:
        current = price_at(spec.prices, price.model, now)
        rows.append(
            {
                "key": f"{price.model}@{price.version}",
                "model": price.model,
                "first": price.model != previous_model,
                "from": utc_text(price.effective_from),
                "from_iso": price.version,
                "status": _status(price, current, now),
                "amounts": [per_1m(getattr(price, name)) for name in PRICE_LABELS],
            }
        )
        previous_model = price.model
    return rows


def _helps(values: Mapping[str, str]) -> dict[str, str]:
    """Each price input's help: what its number is in currency units."""
    helps = {}
    for name in PRICE_LABELS:
        text = values.get(name, "").strip()
        shown = f" Entered: {money_micro(int(text))} per 1M tokens." if text.isdigit() else ""
        helps[name] = f"Micro-units per 1M tokens (150000 = 0.15).{shown}"
    return helps


def _default_values(spec: RegistrySpec, now: datetime) -> dict[str, str]:
    first = min((m.name for m in spec.models), default="")
    return {"model": first, "effective_from": now.strftime("%Y-%m-%dT%H:%M")} | dict.fromkeys(
        PRICE_LABELS, "0"
    )


async def _page(
    request: Request,
    services: PageServices,
    session: Session,
    *,
    values: Mapping[str, str] | None = None,
    state: FormState | None = None,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """The list and (admins) the new-price form; `state` is the form's, `error` the page's."""
    spec = (await services.registry.snapshot()).spec
    now = datetime.now(UTC)
    state = state or FormState()
    shown = dict(values) if values is not None else _default_values(spec, now)
    context = {
        "rows": _rows(spec, now),
        "labels": list(PRICE_LABELS.values()),
        "price_fields": PRICE_LABELS,
        "models": [(m.name, m.name) for m in sorted(spec.models, key=lambda m: m.name)],
        "values": shown,
        "helps": _helps(shown),
        "errors": state.errors,
        "form_error": state.error,
        "error": error,
        "notice": notice,
    }
    return render(request, "prices.html", context, status_code=status_code, session=session)


def _price_data(values: Mapping[str, str]) -> dict[str, Any]:
    """The form's values as `Price.model_validate` takes them: a `datetime-local` value is UTC."""
    data = blank_to_none(values)
    start = str(data.get("effective_from", "")).strip()
    if _LOCAL_MINUTE.fullmatch(start):
        data["effective_from"] = f"{start}Z"
    return data


@router.get("/prices")
async def prices_page(
    request: Request,
    services: PageServices,
    session: Operator,
    done: Annotated[str | None, Query()] = None,
) -> Response:
    """Every price version, the one in force marked; admins also get the form to add one."""
    return await _page(request, services, session, notice=done_notice(done, _DONE))


@router.post("/prices")
async def add_price(request: Request, services: PageServices, session: AdminForm) -> Response:
    """Add a price version (or replace the one with the same model and start); 303 to the list, or the
    page again (422) with the messages next to the form's fields."""
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in PRICE_FIELDS}

    async def again(state: FormState, status_code: int = 422) -> Response:
        return await _page(request, services, session, values=values, state=state, status_code=status_code)

    try:
        price = Price.model_validate(_price_data(values))
    except ValidationError as exc:
        return await again(validation_state(exc, PRICE_FIELDS))
    spec = (await services.registry.snapshot()).spec
    replaced = any(p.model == price.model and p.effective_from == price.effective_from for p in spec.prices)
    try:
        await services.registry.put_price(price)
    except RegistryValidationError as exc:
        return await again(FormState(error=str(exc)))
    except RegistryConflictError as exc:
        return await again(FormState(error=str(exc)), status_code=409)
    done = "replaced" if replaced else "added"
    return RedirectResponse(f"{UI_PATH}/prices?done={done}", status_code=303)


@router.post("/prices/delete")
async def remove_price(request: Request, services: PageServices, session: AdminForm) -> Response:
    """Remove one price version (named by the `model` and `effective_from` fields of its button)."""
    form = await request.form()
    model = str(form.get("model", ""))
    try:
        start = datetime.fromisoformat(str(form.get("effective_from", "")))
    except ValueError:
        raise UiError(404, "Not found", "There is no such price.") from None
    if start.tzinfo is None:
        raise UiError(404, "Not found", "There is no such price.")
    try:
        await services.registry.remove_price(model, start)
    except RegistryNotFoundError as exc:
        raise UiError(404, "Not found", str(exc)) from None
    except (RegistryValidationError, RegistryConflictError) as exc:
        return await _page(request, services, session, error=str(exc), status_code=409)
    return RedirectResponse(f"{UI_PATH}/prices?done=removed", status_code=303)

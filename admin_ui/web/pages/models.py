"""Models with their backends and traffic policy: list, create, edit, delete, with validation errors next to
each field.

`/ui/models` lists every model (aliases, backends, traffic policy facts, credentials, the price in force);
admins get `/ui/models/new` and `/ui/models/{name}/edit` (model names may hold `/`), whose forms post to
`/ui/models` (create) and `/ui/models/{name}` (update). Backends are repeated rows (`?rows=N` shows more
blank ones); the traffic policy and the rarer settings are JSON textareas (see `model_form`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from admin_ui.web.context import UI_PATH, PageServices, render
from admin_ui.web.formatting import done_notice
from admin_ui.web.forms import FORM_ERROR, field_errors
from admin_ui.web.guards import AdminForm, Operator, UiError, UiRoute
from admin_ui.web.pages.editing import FormState, attach_errors, require_admin, save_or_show_again
from admin_ui.web.pages.model_form import (
    MAX_ROWS,
    PROVIDERS,
    form_fields,
    model_rows,
    model_values,
    new_model_values,
    parse_model_form,
)
from admin_ui.web.sessions import Session
from control_plane.errors import RegistryConflictError, RegistryNotFoundError, RegistryValidationError
from control_plane.model import Model, RegistrySpec

__all__ = ["NO_BACKEND", "router"]

router = APIRouter(prefix=UI_PATH, route_class=UiRoute, include_in_schema=False)

_DONE = {
    "created": "Model created.",
    "updated": "Model saved.",
    "deleted": "Model deleted.",
}
_BLANK_ROWS = 2
NO_BACKEND = "Add at least one backend: a name and a base URL."


def _row_count(existing: int, asked: int | None) -> int:
    """Backend rows to show: the model's backends plus two blank ones, or more when asked."""
    return min(MAX_ROWS, max(existing + _BLANK_ROWS, asked or 0, 1))


def _model_path(name: str) -> str:
    return f"{UI_PATH}/models/{name}"


def _form_page(
    request: Request,
    session: Session,
    spec: RegistrySpec,
    *,
    values: Mapping[str, Any],
    rows: int,
    editing: str | None,
    state: FormState | None = None,
    status_code: int = 200,
) -> Response:
    state = state or FormState()
    names = form_fields(rows)
    shown: dict[str, Any] = {name: values.get(name, "") for name in names}
    shown["upstream_credentials"] = list(values.get("upstream_credentials", []))
    here = f"{_model_path(editing)}/edit" if editing else f"{UI_PATH}/models/new"
    context = {
        "values": shown,
        "rows": rows,
        "more_rows": f"{here}?rows={min(MAX_ROWS, rows + _BLANK_ROWS)}" if rows < MAX_ROWS else None,
        "editing": editing,
        "errors": state.errors,
        "error": state.error,
        "providers": PROVIDERS,
        "credentials": [(c.name, c.header, c.hint) for c in sorted(spec.credentials, key=lambda c: c.name)],
        "action": _model_path(editing) if editing else f"{UI_PATH}/models",
    }
    return render(request, "model_form.html", context, status_code=status_code, session=session)


async def _list_page(
    request: Request,
    services: PageServices,
    session: Session,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    spec = (await services.registry.snapshot()).spec
    context = {"rows": model_rows(spec, datetime.now(UTC)), "notice": notice, "error": error}
    return render(request, "models.html", context, status_code=status_code, session=session)


def _posted_values(form: Any, rows: int) -> dict[str, Any]:
    values: dict[str, Any] = {name: str(form.get(name, "")) for name in form_fields(rows)}
    values["upstream_credentials"] = [str(v) for v in form.getlist("upstream_credentials")]
    return values


async def _save(
    request: Request, services: PageServices, session: Session, *, editing: str | None
) -> Response:
    """Validate the posted model and store it; the form again (422) with the messages when it is wrong."""
    form = await request.form()
    try:
        rows = min(MAX_ROWS, max(1, int(str(form.get("rows", _BLANK_ROWS)))))
    except ValueError:
        rows = _BLANK_ROWS
    values = _posted_values(form, rows)
    if editing is not None:
        values["name"] = editing
    spec = (await services.registry.snapshot()).spec
    if editing is not None and spec.model(editing) is None:
        raise UiError(404, "Not found", f"There is no model {editing!r}.")

    def again(state: FormState, status_code: int = 422) -> Response:
        return _form_page(
            request,
            session,
            spec,
            values=values,
            rows=rows,
            editing=editing,
            state=state,
            status_code=status_code,
        )

    parsed = parse_model_form(values, rows)
    fields = form_fields(rows)
    try:
        model = Model.model_validate(parsed.data)
    except ValidationError as exc:
        raw = {parsed.row_key(key): message for key, message in field_errors(exc).items()}
        if any(key.startswith("backends.") for key in raw):
            raw.pop("backends", None)  # "at least 1 item after validation" only repeats the rows' errors
        elif "backends" in raw and not parsed.backend_rows:
            raw["backends"] = NO_BACKEND
        placed, top = attach_errors(raw, fields)
        return again(FormState({**placed, **parsed.json_errors}, "; ".join(top) or FORM_ERROR))
    if parsed.json_errors:
        return again(FormState(dict(parsed.json_errors), FORM_ERROR))
    if editing is None and spec.model(model.name) is not None:
        taken = {"name": f"A model named {model.name!r} already exists; choose another name."}
        return again(FormState(taken, FORM_ERROR))
    done = "updated" if editing else "created"
    return await save_or_show_again(
        services.registry.put_model(model), again, done_url=f"{UI_PATH}/models?done={done}"
    )


@router.get("/models")
async def models_page(
    request: Request,
    services: PageServices,
    session: Operator,
    done: Annotated[str | None, Query()] = None,
) -> Response:
    """Every model with its backends, traffic policy facts, credentials and the price in force."""
    return await _list_page(request, services, session, notice=done_notice(done, _DONE))


@router.get("/models/new")
async def new_model_page(
    request: Request,
    services: PageServices,
    session: Operator,
    rows: Annotated[int | None, Query(ge=1, le=MAX_ROWS)] = None,
) -> Response:
    """The form for a new model (admins)."""
    require_admin(session)
    spec = (await services.registry.snapshot()).spec
    return _form_page(
        request, session, spec, values=new_model_values(), rows=_row_count(0, rows), editing=None
    )


@router.get("/models/{name:path}/edit")
async def edit_model_page(
    request: Request,
    services: PageServices,
    session: Operator,
    name: str,
    rows: Annotated[int | None, Query(ge=1, le=MAX_ROWS)] = None,
) -> Response:
    """The form of an existing model (admins): its backends plus blank rows."""
    require_admin(session)
    spec = (await services.registry.snapshot()).spec
    model = spec.model(name)
    if model is None:
        raise UiError(404, "Not found", f"There is no model {name!r}.")
    count = _row_count(len(model.backends), rows)
    return _form_page(request, session, spec, values=model_values(model), rows=count, editing=name)


@router.post("/models")
async def create_model(request: Request, services: PageServices, session: AdminForm) -> Response:
    """Create a model; 303 to the list, or the form again with the messages."""
    return await _save(request, services, session, editing=None)


@router.post("/models/{name:path}/delete")
async def delete_model(request: Request, services: PageServices, session: AdminForm, name: str) -> Response:
    """Delete a model. The delete button's form names the model in a `delete` field: a post here without
    it is the edit form of a model whose name ends in `/delete`, and saves that model."""
    form = await request.form()
    if form.get("delete") != name:
        return await _save(request, services, session, editing=f"{name}/delete")
    try:
        await services.registry.remove_model(name)
    except RegistryNotFoundError as exc:
        raise UiError(404, "Not found", str(exc)) from None
    except (RegistryValidationError, RegistryConflictError) as exc:
        return await _list_page(request, services, session, error=str(exc), status_code=409)
    return RedirectResponse(f"{UI_PATH}/models?done=deleted", status_code=303)


@router.post("/models/{name:path}")
async def update_model(request: Request, services: PageServices, session: AdminForm, name: str) -> Response:
    """Replace a model (its name stays); 303 to the list, or the form again with the messages."""
    return await _save(request, services, session, editing=name)

"""Plans: list, create, edit, delete, with validation errors next to each field.

`/ui/plans` lists every plan (billing, limits, allowed models, how many tenants use it); admins get
`/ui/plans/new` and `/ui/plans/{name}/edit`, whose forms post to `/ui/plans` (create) and
`/ui/plans/{name}` (update). The form's inputs are named by their dotted path in `Plan`
(`limits.requests_per_minute`, `billing.kind`, `cache.ttl_s`, ...); a blank input means "not set".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from admin_ui.web.context import UI_PATH, PageServices, render
from admin_ui.web.formatting import count, done_notice, money_micro
from admin_ui.web.forms import FORM_ERROR, blank_to_none, lines, nest
from admin_ui.web.guards import AdminForm, Operator, UiError, UiRoute
from admin_ui.web.pages.editing import FormState, flatten, require_admin, save_or_show_again, validation_state
from admin_ui.web.sessions import Session
from control_plane.errors import RegistryConflictError, RegistryNotFoundError, RegistryValidationError
from control_plane.model import Plan, RegistrySpec
from control_plane.model.cache_policy import CacheLayer, HitBilling
from control_plane.model.plan import Billing, BillingKind, Limits

__all__ = ["LIMIT_LABELS", "PLAN_FIELDS", "plan_from_form", "router"]

router = APIRouter(prefix=UI_PATH, route_class=UiRoute, include_in_schema=False)

LIMIT_LABELS: Mapping[str, str] = {
    "requests_per_minute": "Requests per minute",
    "input_tokens_per_minute": "Input tokens per minute",
    "output_tokens_per_minute": "Output tokens per minute",
    "tokens_per_minute": "Tokens per minute",
    "max_concurrent_requests": "Concurrent requests",
    "daily_tokens": "Tokens per day",
    "monthly_tokens": "Tokens per month",
    "monthly_budget_micro": "Monthly budget (micro-units)",
}
"""Each `Limits` field with its label, in the form's order."""

_BILLING_MONEY = ("price_per_call_micro", "monthly_fee_micro", "included_tokens", "overage_per_1m_micro")
_CACHE_FIELDS = ("enabled", "layers", "similarity_threshold", "ttl_s", "hit_billing")

PLAN_FIELDS: tuple[str, ...] = (
    "name",
    "description",
    *(f"limits.{name}" for name in Limits.model_fields),
    "billing.kind",
    *(f"billing.{name}" for name in _BILLING_MONEY),
    "allowed_models",
    "output_reserve_tokens",
    "max_output_tokens",
    *(f"cache.{name}" for name in _CACHE_FIELDS),
)
"""Every input of the plan form, by its dotted path in `Plan`."""

_DONE = {
    "created": "Plan created.",
    "updated": "Plan saved.",
    "deleted": "Plan deleted.",
}

_BILLING_KINDS = [
    (BillingKind.PER_TOKEN.value, "Per token (the model's prices)"),
    (BillingKind.PER_CALL.value, "Per call (a fixed price per request)"),
    (BillingKind.MONTHLY.value, "Monthly fee with included tokens"),
]
_CACHE_ENABLED = [("", "Inherit (off by default)"), ("true", "On"), ("false", "Off")]
_CACHE_LAYERS = [
    ("", "Inherit (exact and semantic)"),
    (CacheLayer.EXACT.value, "Exact only"),
    (CacheLayer.SEMANTIC.value, "Semantic only"),
    (f"{CacheLayer.EXACT.value},{CacheLayer.SEMANTIC.value}", "Exact and semantic"),
]
_HIT_BILLING = [
    ("", "Inherit (free)"),
    (HitBilling.FREE.value, "Free"),
    (HitBilling.CACHE_PRICE.value, "At the model's cache-hit price"),
]


def plan_from_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """The plan form's inputs as the nested dict `Plan.model_validate` takes (blank = not set)."""
    flat = blank_to_none({name: form.get(name, "") for name in PLAN_FIELDS})
    if "allowed_models" in flat:
        flat["allowed_models"] = lines(str(flat["allowed_models"]))
    if "cache.layers" in flat:
        flat["cache.layers"] = lines(str(flat["cache.layers"]))
    return nest(flat)


def _form_values(plan: Plan) -> dict[str, str]:
    values = flatten(plan.model_dump(mode="json"))
    if plan.cache is not None and plan.cache.layers is not None:
        values["cache.layers"] = ",".join(layer.value for layer in plan.cache.layers)
    return values


def _billing_text(billing: Billing) -> str:
    if billing.kind is BillingKind.PER_CALL:
        return f"{money_micro(billing.price_per_call_micro)} per call"
    if billing.kind is BillingKind.MONTHLY:
        return (
            f"{money_micro(billing.monthly_fee_micro)} per month, {count(billing.included_tokens)} tokens "
            f"included, then {money_micro(billing.overage_per_1m_micro)} per 1M tokens"
        )
    return "Per token, at the model's prices"


_LIMIT_SHORT: Mapping[str, str] = {
    "requests_per_minute": "{} requests / min",
    "input_tokens_per_minute": "{} input tokens / min",
    "output_tokens_per_minute": "{} output tokens / min",
    "tokens_per_minute": "{} tokens / min",
    "max_concurrent_requests": "{} concurrent requests",
    "daily_tokens": "{} tokens / day",
    "monthly_tokens": "{} tokens / month",
    "monthly_budget_micro": "budget {} / month",
}


def _limit_texts(limits: Limits) -> list[str]:
    texts = []
    for name, template in _LIMIT_SHORT.items():
        value = getattr(limits, name)
        if value is not None:
            texts.append(
                template.format(money_micro(value) if name == "monthly_budget_micro" else count(value))
            )
    return texts


def _rows(spec: RegistrySpec) -> list[dict[str, Any]]:
    users = Counter(t.plan for t in spec.tenants)
    rows = []
    for plan in sorted(spec.plans, key=lambda p: p.name):
        enabled = None if plan.cache is None else plan.cache.enabled
        rows.append(
            {
                "name": plan.name,
                "description": plan.description,
                "kind": plan.billing.kind.value.replace("_", " "),
                "billing": _billing_text(plan.billing),
                "limits": _limit_texts(plan.limits),
                "models": None if plan.allowed_models is None else list(plan.allowed_models),
                "reserve": count(plan.output_reserve_tokens),
                "max_output": count(plan.max_output_tokens),
                "cache": "inherit" if enabled is None else ("on" if enabled else "off"),
                "tenants": users.get(plan.name, 0),
            }
        )
    return rows


async def _list_page(
    request: Request,
    services: PageServices,
    session: Session,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    snapshot = await services.registry.snapshot()
    context = {"rows": _rows(snapshot.spec), "notice": notice, "error": error}
    return render(request, "plans.html", context, status_code=status_code, session=session)


def _form_page(
    request: Request,
    session: Session,
    *,
    values: Mapping[str, str],
    editing: str | None,
    state: FormState | None = None,
    status_code: int = 200,
) -> Response:
    state = state or FormState()
    context = {
        "values": {name: values.get(name, "") for name in PLAN_FIELDS},
        "editing": editing,
        "errors": state.errors,
        "error": state.error,
        "limit_labels": LIMIT_LABELS,
        "billing_kinds": _BILLING_KINDS,
        "cache_enabled": _CACHE_ENABLED,
        "cache_layers": _CACHE_LAYERS,
        "hit_billing": _HIT_BILLING,
        "action": f"{UI_PATH}/plans/{editing}" if editing else f"{UI_PATH}/plans",
    }
    return render(request, "plan_form.html", context, status_code=status_code, session=session)


def _unknown_models(plan: Plan, spec: RegistrySpec) -> str | None:
    """A plan names models (not aliases) that the registry has; else the problem, for the form's top."""
    problems = []
    for name in plan.allowed_models or ():
        if spec.model(name) is not None:
            continue
        owner = next((m.name for m in spec.models if name in m.aliases), None)
        if owner is not None:
            problems.append(f"allowed models: {name!r} is an alias of {owner!r}; plans name models")
        else:
            problems.append(f"allowed models: {name!r} is not a model in the registry")
    return "; ".join(problems) or None


async def _save(
    request: Request, services: PageServices, session: Session, *, editing: str | None
) -> Response:
    """Validate the posted plan and store it; the form again (422) with the messages when it is wrong."""
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in PLAN_FIELDS}
    if editing is not None:
        values["name"] = editing
    spec = (await services.registry.snapshot()).spec
    if editing is not None and spec.plan(editing) is None:
        raise UiError(404, "Not found", f"There is no plan {editing!r}.")

    def again(state: FormState, status_code: int = 422) -> Response:
        return _form_page(
            request, session, values=values, editing=editing, state=state, status_code=status_code
        )

    try:
        plan = Plan.model_validate(plan_from_form(values))
    except ValidationError as exc:
        return again(validation_state(exc, PLAN_FIELDS))
    if editing is None and spec.plan(plan.name) is not None:
        taken = {"name": f"A plan named {plan.name!r} already exists; choose another name."}
        return again(FormState(taken, FORM_ERROR))
    problem = _unknown_models(plan, spec)
    if problem is not None:
        return again(FormState(error=problem))
    done = "updated" if editing else "created"
    return await save_or_show_again(
        services.registry.put_plan(plan), again, done_url=f"{UI_PATH}/plans?done={done}"
    )


@router.get("/plans")
async def plans_page(
    request: Request,
    services: PageServices,
    session: Operator,
    done: Annotated[str | None, Query()] = None,
) -> Response:
    """Every plan, with how many tenants use it."""
    return await _list_page(request, services, session, notice=done_notice(done, _DONE))


@router.get("/plans/new")
async def new_plan_page(request: Request, session: Operator) -> Response:
    """The form for a new plan (admins), pre-filled with the model's defaults."""
    require_admin(session)
    values = flatten(Plan(name="new").model_dump(mode="json"))
    values["name"] = ""
    return _form_page(request, session, values=values, editing=None)


@router.get("/plans/{name}/edit")
async def edit_plan_page(request: Request, services: PageServices, session: Operator, name: str) -> Response:
    """The form of an existing plan (admins)."""
    require_admin(session)
    plan = (await services.registry.snapshot()).spec.plan(name)
    if plan is None:
        raise UiError(404, "Not found", f"There is no plan {name!r}.")
    return _form_page(request, session, values=_form_values(plan), editing=name)


@router.post("/plans")
async def create_plan(request: Request, services: PageServices, session: AdminForm) -> Response:
    """Create a plan; 303 to the list, or the form again with the messages."""
    return await _save(request, services, session, editing=None)


@router.post("/plans/{name}/delete")
async def delete_plan(request: Request, services: PageServices, session: AdminForm, name: str) -> Response:
    """Delete a plan; refused (the list with the registry's message) while tenants use it."""
    try:
        await services.registry.remove_plan(name)
    except RegistryNotFoundError as exc:
        raise UiError(404, "Not found", str(exc)) from None
    except (RegistryValidationError, RegistryConflictError) as exc:
        return await _list_page(request, services, session, error=str(exc), status_code=409)
    return RedirectResponse(f"{UI_PATH}/plans?done=deleted", status_code=303)


@router.post("/plans/{name}")
async def update_plan(request: Request, services: PageServices, session: AdminForm, name: str) -> Response:
    """Replace a plan (its name stays); 303 to the list, or the form again with the messages."""
    return await _save(request, services, session, editing=name)

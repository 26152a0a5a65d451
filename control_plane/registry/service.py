"""The registry: the only writer of registry state. Validates every write before anything is stored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from control_plane.errors import RegistryConflictError, RegistryNotFoundError, RegistryValidationError
from control_plane.model import Model, Plan, Price, RegistrySpec, Snapshot, Tenant, UpstreamCredential
from control_plane.registry.document import RegistryDocument, sections_of
from control_plane.registry.store import RegistryStore

__all__ = ["ApplyResult", "Registry"]

_MAX_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class ApplyResult:
    snapshot: Snapshot
    changed: bool


def _validation_problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return problems


def _price_key(price: Price) -> tuple[str, datetime]:
    return price.model, price.effective_from


def _without_plan(name: str) -> Callable[[RegistrySpec], RegistrySpec]:
    def change(current: RegistrySpec) -> RegistrySpec:
        if current.plan(name) is None:
            raise RegistryNotFoundError(f"plan {name!r} is not in the registry")
        users = sorted(t.id for t in current.tenants if t.plan == name)
        if users:
            raise RegistryValidationError(
                [
                    f"plan {name!r} is used by tenant(s) {', '.join(repr(u) for u in users)}; "
                    "move them to another plan or remove them first"
                ]
            )
        return current.model_copy(update={"plans": tuple(p for p in current.plans if p.name != name)})

    return change


def _without_credential(name: str) -> Callable[[RegistrySpec], RegistrySpec]:
    def change(current: RegistrySpec) -> RegistrySpec:
        if current.credential(name) is None:
            raise RegistryNotFoundError(f"credential {name!r} is not in the registry")
        users = sorted(m.name for m in current.models if name in m.upstream_credentials)
        if users:
            raise RegistryValidationError(
                [
                    f"credential {name!r} is used by model(s) {', '.join(repr(u) for u in users)}; "
                    "remove it from their upstream_credentials first"
                ]
            )
        kept = tuple(c for c in current.credentials if c.name != name)
        return current.model_copy(update={"credentials": kept})

    return change


class Registry:
    """Validated, versioned writes; every change bumps the version by one and is announced."""

    def __init__(self, store: RegistryStore) -> None:
        self._store = store

    async def snapshot(self) -> Snapshot:
        return await self._store.load()

    async def apply(self, document: RegistryDocument | RegistrySpec) -> ApplyResult:
        """Replace the sections `document` sets, keep the others (declarative and idempotent per section:
        applying the same document again is no change and no new version)."""
        sections = sections_of(document)
        return await self._update(lambda current: current.model_copy(update=sections))

    # ---- models ------------------------------------------------------------------------------------

    async def put_model(self, model: Model) -> ApplyResult:
        return await self._update(lambda current: current.with_model(model))

    async def remove_model(self, name: str) -> ApplyResult:
        def remove(current: RegistrySpec) -> RegistrySpec:
            if current.model(name) is None:
                raise RegistryNotFoundError(f"model {name!r} is not in the registry")
            return current.without_model(name)

        return await self._update(remove)

    # ---- plans -------------------------------------------------------------------------------------

    async def put_plan(self, plan: Plan) -> ApplyResult:
        """Create the plan, or replace the plan of that name in place."""

        def put(current: RegistrySpec) -> RegistrySpec:
            if current.plan(plan.name) is None:
                return current.model_copy(update={"plans": (*current.plans, plan)})
            plans = tuple(plan if p.name == plan.name else p for p in current.plans)
            return current.model_copy(update={"plans": plans})

        return await self._update(put)

    async def remove_plan(self, name: str) -> ApplyResult:
        """Remove a plan no tenant uses (a plan in use is refused with the tenants named)."""
        return await self._update(_without_plan(name))

    # ---- tenants -----------------------------------------------------------------------------------

    async def put_tenant(self, tenant: Tenant) -> ApplyResult:
        """Create the tenant, or replace the tenant of that id in place; its plan must exist."""

        def put(current: RegistrySpec) -> RegistrySpec:
            if current.tenant(tenant.id) is None:
                return current.model_copy(update={"tenants": (*current.tenants, tenant)})
            tenants = tuple(tenant if t.id == tenant.id else t for t in current.tenants)
            return current.model_copy(update={"tenants": tenants})

        return await self._update(put)

    async def remove_tenant(self, tenant_id: str) -> ApplyResult:
        def remove(current: RegistrySpec) -> RegistrySpec:
            if current.tenant(tenant_id) is None:
                raise RegistryNotFoundError(f"tenant {tenant_id!r} is not in the registry")
            return current.model_copy(
                update={"tenants": tuple(t for t in current.tenants if t.id != tenant_id)}
            )

        return await self._update(remove)

    # ---- prices ------------------------------------------------------------------------------------

    async def put_price(self, price: Price) -> ApplyResult:
        """Create a price version, or replace the version of the same model and `effective_from`."""

        def put(current: RegistrySpec) -> RegistrySpec:
            if current.model(price.model) is None:
                raise RegistryValidationError(
                    [
                        f"price for model {price.model!r}: the model is not in the registry "
                        "(prices name models, not aliases)"
                    ]
                )
            others = tuple(p for p in current.prices if _price_key(p) != _price_key(price))
            if len(others) == len(current.prices):
                return current.model_copy(update={"prices": (*current.prices, price)})
            prices = tuple(price if _price_key(p) == _price_key(price) else p for p in current.prices)
            return current.model_copy(update={"prices": prices})

        return await self._update(put)

    async def remove_price(self, model: str, effective_from: datetime) -> ApplyResult:
        """Remove one price version (what was already billed with it keeps its recorded cost)."""

        def remove(current: RegistrySpec) -> RegistrySpec:
            kept = tuple(p for p in current.prices if _price_key(p) != (model, effective_from))
            if len(kept) == len(current.prices):
                raise RegistryNotFoundError(
                    f"model {model!r} has no price effective from {effective_from.isoformat()}"
                )
            return current.model_copy(update={"prices": kept})

        return await self._update(remove)

    # ---- upstream credentials (sealed by the caller; the registry never sees a clear value) ----------

    async def put_credential(self, credential: UpstreamCredential) -> ApplyResult:
        """Create the credential, or replace the one of that name in place (rotation: a new sealed value
        and `updated_at`; models using it pick it up without being written)."""

        def put(current: RegistrySpec) -> RegistrySpec:
            if current.credential(credential.name) is None:
                return current.model_copy(update={"credentials": (*current.credentials, credential)})
            credentials = tuple(credential if c.name == credential.name else c for c in current.credentials)
            return current.model_copy(update={"credentials": credentials})

        return await self._update(put)

    async def remove_credential(self, name: str) -> ApplyResult:
        """Remove a credential no model uses (one in use is refused with the models named)."""
        return await self._update(_without_credential(name))

    # ---- the one write path ------------------------------------------------------------------------

    async def _update(self, change: Callable[[RegistrySpec], RegistrySpec]) -> ApplyResult:
        for _ in range(_MAX_ATTEMPTS):
            current = await self._store.load()
            try:
                # Rebuild from plain data so every validator (including consistency) runs on the result.
                # exclude_unset keeps "which fields were given" (a tenant's overrides depend on it).
                wanted = RegistrySpec.model_validate(change(current.spec).model_dump(exclude_unset=True))
            except ValidationError as exc:
                raise RegistryValidationError(_validation_problems(exc)) from None
            if wanted == current.spec:
                return ApplyResult(snapshot=current, changed=False)
            candidate = Snapshot(version=current.version + 1, spec=wanted)
            if await self._store.compare_and_swap(current.version, candidate):
                return ApplyResult(snapshot=candidate, changed=True)
        raise RegistryConflictError("the registry kept changing during this write; try again")

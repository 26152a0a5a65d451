"""The registry: the only writer of registry state. Validates every write before anything is stored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from control_plane.errors import RegistryConflictError, RegistryNotFoundError, RegistryValidationError
from control_plane.model import Model, RegistrySpec, Snapshot
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


class Registry:
    """Validated, versioned writes; every change bumps the version by one and is announced."""

    def __init__(self, store: RegistryStore) -> None:
        self._store = store

    async def snapshot(self) -> Snapshot:
        return await self._store.load()

    async def apply(self, spec: RegistrySpec) -> ApplyResult:
        """Make the registry equal `spec` (declarative and idempotent: no change, no new version)."""
        return await self._update(lambda _current: spec)

    async def put_model(self, model: Model) -> ApplyResult:
        return await self._update(lambda current: current.with_model(model))

    async def remove_model(self, name: str) -> ApplyResult:
        def remove(current: RegistrySpec) -> RegistrySpec:
            if current.model(name) is None:
                raise RegistryNotFoundError(f"model {name!r} is not in the registry")
            return current.without_model(name)

        return await self._update(remove)

    async def _update(self, change: Callable[[RegistrySpec], RegistrySpec]) -> ApplyResult:
        for _ in range(_MAX_ATTEMPTS):
            current = await self._store.load()
            try:
                # Rebuild from plain data so every validator (including consistency) runs on the result.
                wanted = RegistrySpec.model_validate(change(current.spec).model_dump())
            except ValidationError as exc:
                raise RegistryValidationError(_validation_problems(exc)) from None
            if wanted == current.spec:
                return ApplyResult(snapshot=current, changed=False)
            candidate = Snapshot(version=current.version + 1, spec=wanted)
            if await self._store.compare_and_swap(current.version, candidate):
                return ApplyResult(snapshot=candidate, changed=True)
        raise RegistryConflictError("the registry kept changing during this write; try again")

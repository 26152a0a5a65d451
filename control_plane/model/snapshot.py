"""The registry as one versioned, self-consistent value: what xds and ext_proc compile."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, Field, model_validator

from control_plane.model.credential import UpstreamCredential
from control_plane.model.model import Model
from control_plane.model.plan import Plan
from control_plane.model.price import Price
from control_plane.model.tenant import Tenant

__all__ = ["RegistrySpec", "Snapshot"]


def _duplicates(kind: str, names: list[str]) -> list[str]:
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    return [f"{kind} {name!r} is defined more than once" for name in repeated]


class RegistrySpec(BaseModel):
    """The whole registry as an operator writes it (`tollway apply -f registry.yaml`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: tuple[Model, ...] = ()
    plans: tuple[Plan, ...] = ()
    tenants: tuple[Tenant, ...] = ()
    prices: tuple[Price, ...] = ()
    credentials: tuple[UpstreamCredential, ...] = ()

    @model_validator(mode="after")
    def _check_consistency(self) -> RegistrySpec:
        problems = self.consistency_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def consistency_problems(self) -> list[str]:
        """Every cross-object rule the registry must satisfy, as readable sentences (empty when fine)."""
        problems: list[str] = []
        owner: dict[str, str] = {}
        for model in self.models:
            for name in (model.name, *model.aliases):
                if name in owner:
                    problems.append(f"name {name!r} is used by both {owner[name]!r} and {model.name!r}")
                else:
                    owner[name] = model.name
        problems.extend(_duplicates("plan", [p.name for p in self.plans]))
        problems.extend(_duplicates("tenant", [t.id for t in self.tenants]))
        problems.extend(_duplicates("price", [f"{p.model} from {p.version}" for p in self.prices]))
        problems.extend(_duplicates("credential", [c.name for c in self.credentials]))
        problems.extend(self._credential_problems())
        plan_names = {p.name for p in self.plans}
        problems.extend(
            f"tenant {t.id!r} uses plan {t.plan!r}, which does not exist"
            for t in self.tenants
            if t.plan not in plan_names
        )
        return problems

    def _credential_problems(self) -> list[str]:
        by_name = {c.name: c for c in self.credentials}
        problems: list[str] = []
        for model in self.models:
            headers: dict[str, str] = {}
            for name in model.upstream_credentials:
                credential = by_name.get(name)
                if credential is None:
                    problems.append(f"model {model.name!r} uses credential {name!r}, which does not exist")
                    continue
                if credential.header in headers:
                    problems.append(
                        f"model {model.name!r}: credentials {headers[credential.header]!r} and {name!r} "
                        f"both set header {credential.header!r}"
                    )
                headers[credential.header] = name
                if credential.header in model.upstream_headers:
                    problems.append(
                        f"model {model.name!r}: header {credential.header!r} is both a credential and a "
                        "plain upstream header"
                    )
        return problems

    def credential(self, name: str) -> UpstreamCredential | None:
        return next((c for c in self.credentials if c.name == name), None)

    def plan(self, name: str) -> Plan | None:
        return next((p for p in self.plans if p.name == name), None)

    def tenant(self, tenant_id: str) -> Tenant | None:
        return next((t for t in self.tenants if t.id == tenant_id), None)

    def model(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)

    def with_model(self, model: Model) -> RegistrySpec:
        """This spec with `model` replacing the model of the same name in place, or appended."""
        if self.model(model.name) is None:
            return self.model_copy(update={"models": (*self.models, model)})
        return self.model_copy(
            update={"models": tuple(model if m.name == model.name else m for m in self.models)}
        )

    def without_model(self, name: str) -> RegistrySpec:
        return self.model_copy(update={"models": tuple(m for m in self.models if m.name != name)})


class Snapshot(BaseModel):
    """A registry spec stamped with the registry's monotonic version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=0)
    spec: RegistrySpec = RegistrySpec()

    @property
    def models(self) -> tuple[Model, ...]:
        return self.spec.models

    def resolve(self, name: str) -> Model | None:
        """The model a client means by `name` (its name or one of its aliases)."""
        for model in self.spec.models:
            if model.name == name or name in model.aliases:
                return model
        return None

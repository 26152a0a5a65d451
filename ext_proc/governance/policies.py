"""Tenants, plans and prices of one registry snapshot, compiled for the hot path.

`compile_policy_table` turns a `Snapshot` into a frozen `CompiledPolicyTable` (tenant id → its
`TenantPolicy` with the effective limits, model → its price versions); `PolicyTableHolder` swaps the
table in service with one attribute assignment, and keeps the previous one if a snapshot does not
compile (the same pattern as `ext_proc.model_table.ModelTableHolder`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from control_plane.model import Price, Snapshot, price_at
from ext_proc.governance.contracts import TenantPolicy

__all__ = ["CompiledPolicyTable", "PolicyCompileError", "PolicyTableHolder", "compile_policy_table"]

_logger = logging.getLogger(__name__)


class PolicyCompileError(ValueError):
    """The snapshot cannot be compiled into a policy table (e.g. a tenant names a missing plan)."""


@dataclass(frozen=True, slots=True)
class CompiledPolicyTable:
    """The `PolicyTable` of one registry version: tenant policies and versioned prices by model."""

    version: int
    policies: Mapping[str, TenantPolicy]
    prices: Mapping[str, tuple[Price, ...]]
    """Model name → its price versions, newest `effective_from` first."""

    def policy(self, tenant: str) -> TenantPolicy | None:
        return self.policies.get(tenant)

    def price(self, model: str, when: datetime) -> Price | None:
        """The price of `model` in force at `when` (None: the model has no price then)."""
        return price_at(self.prices.get(model, ()), model, when)

    def tenants(self) -> Iterator[str]:
        """Every tenant id of this table (the reconciler scans their leases)."""
        return iter(self.policies)


def compile_policy_table(snapshot: Snapshot) -> CompiledPolicyTable:
    """Compile `snapshot`; raises `PolicyCompileError` when a tenant's plan is missing."""
    plans = {plan.name: plan for plan in snapshot.spec.plans}
    policies: dict[str, TenantPolicy] = {}
    for tenant in snapshot.spec.tenants:
        plan = plans.get(tenant.plan)
        if plan is None:
            raise PolicyCompileError(f"tenant {tenant.id!r} uses plan {tenant.plan!r}, which does not exist")
        policies[tenant.id] = TenantPolicy(
            tenant=tenant, plan=plan, limits=plan.limits.overridden_by(tenant.overrides)
        )
    by_model: dict[str, list[Price]] = {}
    for price in snapshot.spec.prices:
        by_model.setdefault(price.model, []).append(price)
    prices = {
        model: tuple(sorted(versions, key=lambda p: p.effective_from, reverse=True))
        for model, versions in by_model.items()
    }
    return CompiledPolicyTable(
        version=snapshot.version, policies=MappingProxyType(policies), prices=MappingProxyType(prices)
    )


class PolicyTableHolder:
    """The policy table in service (a `PolicyTableSource`); None until the first snapshot compiles."""

    def __init__(self, table: CompiledPolicyTable | None = None) -> None:
        self._table = table

    @property
    def current(self) -> CompiledPolicyTable | None:
        return self._table

    def load(self, snapshot: Snapshot) -> bool:
        """Compile `snapshot` and put it in service; on failure keep the previous table, return False."""
        try:
            table = compile_policy_table(snapshot)
        except PolicyCompileError as exc:
            kept = self._table.version if self._table is not None else None
            _logger.error(
                "registry snapshot v%s: policies do not compile (%s); keeping v%s",
                snapshot.version,
                exc,
                kept,
            )
            return False
        self._table = table
        _logger.info("policy table v%s in service: %d tenants", table.version, len(table.policies))
        return True

"""Creates a fresh plan + tenant + API key through the admin API, one per call, for integration tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from control_plane.admin_client import AdminClient
from control_plane.model import Billing, CachePolicy, Limits, Plan, Tenant

__all__ = ["ProvisionedTenant", "TenantFactory"]


@dataclass(frozen=True)
class ProvisionedTenant:
    id: str
    plan: str
    key_id: str
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


class TenantFactory:
    def __init__(self, admin: AdminClient) -> None:
        self.admin = admin

    def create(
        self,
        limits: Limits,
        *,
        billing: Billing | None = None,
        models: tuple[str, ...] | None = None,
        tenant_cache: CachePolicy | None = None,
        **plan_fields: Any,
    ) -> ProvisionedTenant:
        suffix = uuid.uuid4().hex[:10]
        plan = Plan(
            name=f"plan-{suffix}",
            limits=limits,
            billing=billing or Billing(),
            allowed_models=models,
            **plan_fields,
        )
        tenant = Tenant(id=f"t-{suffix}", plan=plan.name, cache=tenant_cache)
        self.admin.put_plan(plan)
        self.admin.put_tenant(tenant)
        created = self.admin.create_key(tenant=tenant.id, name="test")
        return ProvisionedTenant(tenant.id, plan.name, created["key"]["id"], created["secret"])

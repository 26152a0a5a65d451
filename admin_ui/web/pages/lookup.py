"""Finding a tenant named in a URL: the tenant and its plan from one registry snapshot, or the 404 page
("There is no such tenant.") that every tenant page and action answers for an unknown id."""

from __future__ import annotations

from admin_ui.deps import Services
from admin_ui.web.guards import UiError
from control_plane.model import Plan, Tenant

__all__ = ["NO_SUCH_TENANT", "tenant_or_404"]

NO_SUCH_TENANT = "There is no such tenant."


async def tenant_or_404(services: Services, tenant_id: str) -> tuple[Tenant, Plan]:
    """The tenant `tenant_id` and its plan; a 404 `UiError` when there is no such tenant."""
    spec = (await services.registry.snapshot()).spec
    tenant = spec.tenant(tenant_id)
    if tenant is None:
        raise UiError(404, "Not found", NO_SUCH_TENANT)
    plan = spec.plan(tenant.plan)
    if plan is None:  # the registry's consistency rules make this impossible
        raise UiError(404, "Not found", f"The plan {tenant.plan!r} of this tenant is not in the registry.")
    return tenant, plan

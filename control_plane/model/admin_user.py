"""People who use the admin UI: operators (admin, viewer) and tenant users (their own tenant only).

Only an argon2 hash of a password is ever stored (`control_plane.admin_users` makes and checks it); the
JSON API and the CLI keep authenticating with the admin token. Every change an operator makes through
the UI is an `AuditEntry`: who, what, when, and the object before and after.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from control_plane.model.tenant import TenantId

__all__ = ["AdminRole", "AdminUser", "AuditEntry", "Username"]

Username = Annotated[
    str, Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._@-]*$", description="lower case")
]


class AdminRole(StrEnum):
    ADMIN = "admin"
    """Everything."""
    VIEWER = "viewer"
    """Reads everything, changes nothing."""
    TENANT = "tenant"
    """Sees one tenant only: its keys (create, revoke), usage and invoices."""


class AdminUser(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    username: Username
    role: AdminRole
    tenant: TenantId | None = Field(default=None, description="the one tenant of a `tenant` user")
    password_hash: str = Field(min_length=20, repr=False, description="argon2id, PHC string format")
    created_at: AwareDatetime
    disabled: bool = False

    @model_validator(mode="after")
    def _tenant_iff_tenant_role(self) -> AdminUser:
        if (self.role is AdminRole.TENANT) != (self.tenant is not None):
            raise ValueError("a `tenant` user names exactly one tenant; other roles name none")
        return self

    @property
    def can_write(self) -> bool:
        """May change operator-level things (registry, keys of any tenant, purges)."""
        return self.role is AdminRole.ADMIN and not self.disabled

    def may_see_tenant(self, tenant: str) -> bool:
        if self.disabled:
            return False
        return self.role is not AdminRole.TENANT or self.tenant == tenant


class AuditEntry(BaseModel):
    """One change made through the admin UI or API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime
    actor: str = Field(description="username, or `token` for the admin token (CLI, API clients)")
    action: str = Field(description="what was done, e.g. `tenant.put`, `key.revoke`, `cache.purge`")
    target: str = Field(description="what it was done to, e.g. a tenant id or key id")
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    """Objects as JSON, secrets never included (a key's secret, a password hash, a credential)."""

"""Shapes of the admin API (request bodies of registry writes are the domain model itself)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from control_plane.model import (
    ApiKey,
    KeyState,
    Model,
    NodeStatus,
    Plan,
    Price,
    RegistrySpec,
    Tenant,
    TenantStatus,
)

__all__ = [
    "KeyCreate",
    "KeyList",
    "KeyPublic",
    "KeyRotate",
    "KeySecret",
    "ModelList",
    "PlanList",
    "PriceList",
    "RegistryPublic",
    "StatusPublic",
    "TenantList",
    "TenantPublic",
    "WriteResult",
]

SECRET_WARNING = "store this secret now: it is shown once and cannot be shown again"  # noqa: S105


class ModelList(BaseModel):
    version: int
    models: list[Model]


class PlanList(BaseModel):
    version: int
    plans: list[Plan]


class TenantPublic(BaseModel):
    """A tenant; `overrides` shows only the limits the tenant overrides (what a PUT would send)."""

    id: str
    name: str
    plan: str
    status: TenantStatus
    overrides: dict[str, int | None] | None

    @classmethod
    def of(cls, tenant: Tenant) -> TenantPublic:
        overrides = tenant.overrides.model_dump(exclude_unset=True) if tenant.overrides else None
        return cls(
            id=tenant.id, name=tenant.name, plan=tenant.plan, status=tenant.status, overrides=overrides
        )


class TenantList(BaseModel):
    version: int
    tenants: list[TenantPublic]


class PriceList(BaseModel):
    version: int
    prices: list[Price]


class RegistryPublic(BaseModel):
    version: int
    spec: RegistrySpec


class WriteResult(BaseModel):
    version: int
    changed: bool


class StatusPublic(BaseModel):
    registry_version: int
    models: int
    envoy_nodes: list[NodeStatus]


class KeyCreate(BaseModel):
    tenant: str = Field(min_length=1)
    name: str = Field(default="", max_length=200)
    allowed_models: list[str] | None = Field(
        default=None, description="models (or aliases) the key may call; omit for whatever the plan allows"
    )
    expires_at: AwareDatetime | None = None
    expires_in_s: float | None = Field(
        default=None, gt=0, le=3650 * 86400, description="expiry relative to the server's clock (seconds)"
    )

    @model_validator(mode="after")
    def _one_expiry(self) -> KeyCreate:
        if self.expires_at is not None and self.expires_in_s is not None:
            raise ValueError("give expires_at or expires_in_s, not both")
        return self


class KeyRotate(BaseModel):
    grace_s: float = Field(
        default=0.0, ge=0.0, le=90 * 86400, description="how long the old key keeps working (seconds)"
    )


class KeyPublic(BaseModel):
    """A key as the API shows it: never the secret, never its hash."""

    id: str
    tenant: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    allowed_models: list[str] | None
    state: KeyState
    rotated_to: str | None

    @classmethod
    def of(cls, key: ApiKey, now: datetime) -> KeyPublic:
        return cls(
            id=key.id,
            tenant=key.tenant,
            name=key.name,
            prefix=key.prefix,
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            allowed_models=list(key.allowed_models) if key.allowed_models is not None else None,
            state=key.state(now),
            rotated_to=key.rotated_to,
        )


class KeyList(BaseModel):
    keys: list[KeyPublic]


class KeySecret(BaseModel):
    """The answer to create and rotate: the only response that ever carries a key's secret."""

    key: KeyPublic
    secret: str
    warning: str = SECRET_WARNING
    previous: KeyPublic | None = Field(default=None, description="the rotated key, with its new expiry")

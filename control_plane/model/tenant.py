"""Tenants: who is billed and limited; every API key belongs to one."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from control_plane.model.cache_policy import CachePolicy
from control_plane.model.plan import Limits, PlanName

__all__ = ["Tenant", "TenantId", "TenantStatus"]

TenantId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$",
        description="lower-case slug; used in Redis keys and headers",
    ),
]


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    """Every key of a suspended tenant gets 403 until it is active again."""


class Tenant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: TenantId
    name: str = Field(default="", max_length=200)
    plan: PlanName
    status: TenantStatus = TenantStatus.ACTIVE
    overrides: Limits | None = Field(
        default=None, description="limits that replace the plan's for this tenant (only the fields set)"
    )

    cache: CachePolicy | None = Field(
        default=None,
        description="cache settings replacing the plan's for this tenant (only the fields set)",
    )

    @field_serializer("overrides")
    def _only_set_overrides(self, overrides: Limits | None) -> dict[str, Any] | None:
        # Which fields are set IS the meaning of an override ("null" = lift that limit), so a dump
        # must never fill in the unset ones, whatever options the caller dumps with.
        return None if overrides is None else overrides.model_dump(exclude_unset=True)

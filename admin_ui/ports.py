"""What the admin API needs from the rest of the system, as Protocols (fakes in tests, Redis in prod)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from control_plane.audit import AuditPage
from control_plane.model import (
    AdminRole,
    AdminUser,
    ApiKey,
    AuditEntry,
    Backend,
    BackendRegistration,
    CacheStats,
    Model,
    NodeHealth,
    NodeStatus,
    Plan,
    Price,
    RegistrySpec,
    Snapshot,
    Tenant,
    TrafficSeries,
    TrafficWindow,
    UpstreamCredential,
)
from control_plane.registry import ApplyResult, RegistryDocument

__all__ = [
    "AuditPort",
    "BackendHealthPort",
    "CachePort",
    "KeysPort",
    "RegistrationsPort",
    "RegistryPort",
    "TrafficStatsPort",
    "UsagePort",
    "UsersPort",
    "XdsStatusPort",
]


class RegistryPort(Protocol):
    async def snapshot(self) -> Snapshot: ...

    async def apply(self, document: RegistryDocument | RegistrySpec) -> ApplyResult: ...

    async def put_model(self, model: Model) -> ApplyResult: ...

    async def remove_model(self, name: str) -> ApplyResult: ...

    async def put_plan(self, plan: Plan) -> ApplyResult: ...

    async def remove_plan(self, name: str) -> ApplyResult: ...

    async def put_tenant(self, tenant: Tenant) -> ApplyResult: ...

    async def remove_tenant(self, tenant_id: str) -> ApplyResult: ...

    async def put_price(self, price: Price) -> ApplyResult: ...

    async def remove_price(self, model: str, effective_from: datetime) -> ApplyResult: ...

    async def put_credential(self, credential: UpstreamCredential) -> ApplyResult: ...

    async def remove_credential(self, name: str) -> ApplyResult: ...


class KeysPort(Protocol):
    """API keys; secrets only ever appear in what `create` and `rotate` return."""

    def now(self) -> datetime: ...

    async def create(
        self,
        tenant: str,
        name: str = "",
        allowed_models: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]: ...

    async def get(self, key_id: str) -> ApiKey: ...

    async def list(self, tenant: str | None = None) -> list[ApiKey]: ...

    async def revoke(self, key_id: str) -> ApiKey: ...

    async def rotate(self, key_id: str, grace: timedelta) -> tuple[ApiKey, str]: ...


class UsagePort(Protocol):
    """A tenant's usage counters (control_plane.usage.RedisUsageReader): `usage_field` → integer."""

    async def month_usage(self, tenant: str, month: str) -> Mapping[str, int]: ...

    async def day_usage(self, tenant: str, days: Sequence[str]) -> Mapping[str, Mapping[str, int]]:
        """The counters of each UTC day `YYYY-MM-DD` in `days` (a day without usage: an empty map)."""
        ...


class XdsStatusPort(Protocol):
    async def all(self) -> list[NodeStatus]: ...


class BackendHealthPort(Protocol):
    """Model backend health as each connected Envoy node sees it (control_plane.envoy_admin)."""

    async def nodes_health(self, nodes: Sequence[NodeStatus], snapshot: Snapshot) -> list[NodeHealth]: ...


class RegistrationsPort(Protocol):
    """Self-registered backends (leases); `register` is also the heartbeat."""

    async def register(self, model: str, backend: Backend, ttl_s: float) -> BackendRegistration: ...

    async def deregister(self, model: str, backend: str) -> bool: ...

    async def list(self, model: str | None = None) -> list[BackendRegistration]: ...


class CachePort(Protocol):
    """The response cache's counters and purges (control_plane.cache_admin.CacheAdmin)."""

    async def stats(self, tenant: str) -> CacheStats: ...

    async def stats_many(self, tenants: Sequence[str]) -> list[CacheStats]: ...

    async def reset_stats(self, tenant: str) -> None: ...

    async def purge_tenant(self, tenant: str) -> int:
        """Bump the generation of the tenant's own namespace; the new generation."""
        ...

    async def purge_namespace(self, name: str) -> int:
        """Bump the generation of the shared namespace `name`; the new generation."""
        ...


class UsersPort(Protocol):
    """Admin UI users (control_plane.admin_users.AdminUsers). `AdminUser.password_hash` never leaves the
    server: responses are built from `admin_ui.schemas.UserPublic`."""

    async def create(
        self, username: str, password: str, role: AdminRole, tenant: str | None = None
    ) -> AdminUser: ...

    async def get(self, username: str) -> AdminUser: ...

    async def list(self) -> list[AdminUser]: ...

    async def set_password(self, username: str, password: str) -> AdminUser: ...

    async def set_disabled(self, username: str, disabled: bool) -> AdminUser: ...

    async def delete(self, username: str) -> AdminUser: ...

    async def authenticate(self, username: str, password: str) -> AdminUser | None:
        """The enabled user whose password this is, else None (timing does not reveal unknown users)."""
        ...


class AuditPort(Protocol):
    """The audit log of admin actions (control_plane.audit.RedisAuditLog)."""

    def now(self) -> datetime: ...

    async def append(self, entry: AuditEntry) -> str: ...

    async def page(
        self,
        *,
        limit: int = 50,
        before: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        max_scan: int = 20_000,
    ) -> AuditPage: ...


class TrafficStatsPort(Protocol):
    """Gateway traffic over time for the dashboard (control_plane.traffic_stats)."""

    async def series(self, window: TrafficWindow) -> TrafficSeries: ...

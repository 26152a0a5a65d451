"""Every change made through the admin API or UI, audited: wrappers around the write ports that append
an `AuditEntry` (who, what, when, before, after) once the change succeeded.

`audited(services, actor)` is what route handlers get (see `admin_ui.deps`): the same ports, each write
recorded under `actor()` — the signed-in user's name in the UI, `token` for the admin token. Reads pass
through. An entry holds the object's public shape only: no key secret or hash, no password or hash, no
credential value (its masked hint only). A write that changed nothing (`changed=False`) is not recorded.

If the audit log cannot be written after the change was made, the change stands and the failure is
logged at ERROR (the change cannot be undone safely from here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from admin_ui.ports import CachePort, KeysPort, RegistryPort, UsersPort
from control_plane.errors import StoreUnavailableError
from control_plane.model import (
    AdminRole,
    AdminUser,
    ApiKey,
    AuditEntry,
    CacheStats,
    Model,
    Plan,
    Price,
    RegistrySpec,
    Snapshot,
    Tenant,
    UpstreamCredential,
)
from control_plane.registry import ApplyResult, RegistryDocument

__all__ = [
    "TOKEN_ACTOR",
    "AuditSink",
    "AuditTrail",
    "AuditedCache",
    "AuditedKeys",
    "AuditedRegistry",
    "AuditedUsers",
    "public_key",
    "public_user",
]

_log = logging.getLogger(__name__)

TOKEN_ACTOR = "token"  # noqa: S105 (an actor name, not a secret)
"""The actor of changes made with the admin token (CLI, API clients)."""

Json = dict[str, Any]


class AuditSink(Protocol):
    def now(self) -> datetime: ...

    async def append(self, entry: AuditEntry) -> str: ...


class AuditTrail:
    """Appends entries for one actor (asked for at write time: the session is known by then)."""

    def __init__(self, sink: AuditSink, actor: Callable[[], str]) -> None:
        self._sink = sink
        self._actor = actor

    async def record(self, action: str, target: str, before: Json | None, after: Json | None) -> None:
        entry = AuditEntry(
            at=self._sink.now(), actor=self._actor(), action=action, target=target, before=before, after=after
        )
        try:
            await self._sink.append(entry)
        except StoreUnavailableError:
            _log.error(
                "audit entry not written (store unreachable): %s %s by %s", action, target, entry.actor
            )


def _dump(value: Model | Plan | Tenant | Price | None) -> Json | None:
    return None if value is None else value.model_dump(mode="json")


def _credential(value: UpstreamCredential | None) -> Json | None:
    if value is None:
        return None
    return value.model_dump(mode="json", exclude={"sealed_value"})


def public_key(key: ApiKey, now: datetime) -> Json:
    """A key as the audit log shows it: never the secret's hash."""
    data = key.model_dump(mode="json", exclude={"secret_hash"})
    data["state"] = key.state(now).value
    return data


def public_user(user: AdminUser) -> Json:
    return user.model_dump(mode="json", exclude={"password_hash"})


def _price_target(model: str, effective_from: datetime) -> str:
    return f"{model}@{effective_from.isoformat()}"


def _find_price(spec: RegistrySpec, model: str, effective_from: datetime) -> Price | None:
    return next((p for p in spec.prices if p.model == model and p.effective_from == effective_from), None)


class AuditedRegistry:
    """`RegistryPort` with every write recorded."""

    def __init__(self, inner: RegistryPort, trail: AuditTrail) -> None:
        self._inner = inner
        self._trail = trail

    async def snapshot(self) -> Snapshot:
        return await self._inner.snapshot()

    async def _spec(self) -> RegistrySpec:
        return (await self._inner.snapshot()).spec

    async def _done(
        self, result: ApplyResult, action: str, target: str, before: Json | None, after: Json | None
    ) -> ApplyResult:
        if result.changed:
            await self._trail.record(action, target, before, after)
        return result

    async def apply(self, document: RegistryDocument | RegistrySpec) -> ApplyResult:
        before = await self._inner.snapshot()
        result = await self._inner.apply(document)
        spec = result.snapshot.spec
        summary = {"models": len(spec.models), "plans": len(spec.plans), "tenants": len(spec.tenants)}
        return await self._done(
            result,
            "registry.apply",
            "registry",
            {"version": before.version},
            {"version": result.snapshot.version, **summary},
        )

    async def put_model(self, model: Model) -> ApplyResult:
        before = (await self._spec()).model(model.name)
        return await self._done(
            await self._inner.put_model(model), "model.put", model.name, _dump(before), _dump(model)
        )

    async def remove_model(self, name: str) -> ApplyResult:
        before = (await self._spec()).model(name)
        return await self._done(
            await self._inner.remove_model(name), "model.remove", name, _dump(before), None
        )

    async def put_plan(self, plan: Plan) -> ApplyResult:
        before = (await self._spec()).plan(plan.name)
        return await self._done(
            await self._inner.put_plan(plan), "plan.put", plan.name, _dump(before), _dump(plan)
        )

    async def remove_plan(self, name: str) -> ApplyResult:
        before = (await self._spec()).plan(name)
        return await self._done(await self._inner.remove_plan(name), "plan.remove", name, _dump(before), None)

    async def put_tenant(self, tenant: Tenant) -> ApplyResult:
        before = (await self._spec()).tenant(tenant.id)
        result = await self._inner.put_tenant(tenant)
        return await self._done(result, "tenant.put", tenant.id, _dump(before), _dump(tenant))

    async def remove_tenant(self, tenant_id: str) -> ApplyResult:
        before = (await self._spec()).tenant(tenant_id)
        result = await self._inner.remove_tenant(tenant_id)
        return await self._done(result, "tenant.remove", tenant_id, _dump(before), None)

    async def put_price(self, price: Price) -> ApplyResult:
        before = _find_price(await self._spec(), price.model, price.effective_from)
        result = await self._inner.put_price(price)
        target = _price_target(price.model, price.effective_from)
        return await self._done(result, "price.put", target, _dump(before), _dump(price))

    async def remove_price(self, model: str, effective_from: datetime) -> ApplyResult:
        before = _find_price(await self._spec(), model, effective_from)
        result = await self._inner.remove_price(model, effective_from)
        return await self._done(
            result, "price.remove", _price_target(model, effective_from), _dump(before), None
        )

    async def put_credential(self, credential: UpstreamCredential) -> ApplyResult:
        before = (await self._spec()).credential(credential.name)
        result = await self._inner.put_credential(credential)
        after = _credential(credential)
        return await self._done(result, "credential.put", credential.name, _credential(before), after)

    async def remove_credential(self, name: str) -> ApplyResult:
        before = (await self._spec()).credential(name)
        result = await self._inner.remove_credential(name)
        return await self._done(result, "credential.remove", name, _credential(before), None)


class AuditedKeys:
    """`KeysPort` with creations, revocations and rotations recorded (never a secret)."""

    def __init__(self, inner: KeysPort, trail: AuditTrail) -> None:
        self._inner = inner
        self._trail = trail

    def now(self) -> datetime:
        return self._inner.now()

    async def create(
        self,
        tenant: str,
        name: str = "",
        allowed_models: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        key, secret = await self._inner.create(tenant, name, allowed_models, expires_at)
        await self._trail.record("key.create", key.id, None, public_key(key, self.now()))
        return key, secret

    async def get(self, key_id: str) -> ApiKey:
        return await self._inner.get(key_id)

    async def list(self, tenant: str | None = None) -> list[ApiKey]:
        return await self._inner.list(tenant)

    async def revoke(self, key_id: str) -> ApiKey:
        before = await self._inner.get(key_id)
        after = await self._inner.revoke(key_id)
        if after != before:
            now = self.now()
            await self._trail.record("key.revoke", key_id, public_key(before, now), public_key(after, now))
        return after

    async def rotate(self, key_id: str, grace: timedelta) -> tuple[ApiKey, str]:
        before = await self._inner.get(key_id)
        new, secret = await self._inner.rotate(key_id, grace)
        now = self.now()
        previous = await self._inner.get(key_id)
        after = {"previous": public_key(previous, now), "new": public_key(new, now)}
        await self._trail.record("key.rotate", key_id, public_key(before, now), after)
        return new, secret


class AuditedCache:
    """`CachePort` with purges and counter resets recorded."""

    def __init__(self, inner: CachePort, trail: AuditTrail) -> None:
        self._inner = inner
        self._trail = trail

    async def stats(self, tenant: str) -> CacheStats:
        return await self._inner.stats(tenant)

    async def stats_many(self, tenants: Sequence[str]) -> list[CacheStats]:
        return await self._inner.stats_many(tenants)

    async def reset_stats(self, tenant: str) -> None:
        before = await self._inner.stats(tenant)
        await self._inner.reset_stats(tenant)
        await self._trail.record("cache.reset_stats", tenant, before.model_dump(mode="json"), None)

    async def purge_tenant(self, tenant: str) -> int:
        generation = await self._inner.purge_tenant(tenant)
        await self._trail.record("cache.purge", f"tenant:{tenant}", None, {"generation": generation})
        return generation

    async def purge_namespace(self, name: str) -> int:
        generation = await self._inner.purge_namespace(name)
        await self._trail.record("cache.purge", f"namespace:{name}", None, {"generation": generation})
        return generation


class AuditedUsers:
    """`UsersPort` with every change recorded (a password change shows as such, never the hash)."""

    def __init__(self, inner: UsersPort, trail: AuditTrail) -> None:
        self._inner = inner
        self._trail = trail

    async def create(
        self, username: str, password: str, role: AdminRole, tenant: str | None = None
    ) -> AdminUser:
        user = await self._inner.create(username, password, role, tenant)
        await self._trail.record("user.create", user.username, None, public_user(user))
        return user

    async def get(self, username: str) -> AdminUser:
        return await self._inner.get(username)

    async def list(self) -> list[AdminUser]:
        return await self._inner.list()

    async def set_password(self, username: str, password: str) -> AdminUser:
        user = await self._inner.set_password(username, password)
        await self._trail.record("user.set_password", user.username, None, {"password": "changed"})
        return user

    async def set_disabled(self, username: str, disabled: bool) -> AdminUser:
        before = await self._inner.get(username)
        user = await self._inner.set_disabled(username, disabled)
        if user != before:
            action = "user.disable" if disabled else "user.enable"
            await self._trail.record(action, user.username, public_user(before), public_user(user))
        return user

    async def delete(self, username: str) -> AdminUser:
        user = await self._inner.delete(username)
        await self._trail.record("user.delete", user.username, public_user(user), None)
        return user

    async def authenticate(self, username: str, password: str) -> AdminUser | None:
        return await self._inner.authenticate(username, password)

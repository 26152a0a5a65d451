"""Shapes of the admin API (request bodies of registry writes are the domain model itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    field_validator,
    model_validator,
)

from control_plane.admin_users import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from control_plane.model import (
    AdminRole,
    AdminUser,
    ApiKey,
    Backend,
    BackendRegistration,
    CachePolicy,
    CacheStats,
    KeyState,
    Model,
    NodeHealth,
    NodeStatus,
    Plan,
    Price,
    RegistrySpec,
    Tenant,
    TenantStatus,
    UpstreamCredential,
)
from control_plane.model.registration import (
    DEFAULT_REGISTRATION_TTL_S,
    MAX_REGISTRATION_TTL_S,
    MIN_REGISTRATION_TTL_S,
)
from control_plane.model.tenant import TenantId
from control_plane.model.traffic import HeaderName

__all__ = [
    "BackendHealthPublic",
    "CachePurged",
    "CacheStatsList",
    "CredentialList",
    "CredentialPublic",
    "CredentialPut",
    "CredentialWrite",
    "KeyCreate",
    "KeyList",
    "KeyPublic",
    "KeyRotate",
    "KeySecret",
    "ModelList",
    "PlanList",
    "PriceList",
    "RegistrationCreate",
    "RegistrationList",
    "RegistrationRemoved",
    "RegistryPublic",
    "RegistrySpecPublic",
    "StatusPublic",
    "TenantList",
    "TenantPublic",
    "UserCreate",
    "UserList",
    "UserPassword",
    "UserPublic",
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
    cache: CachePolicy | None = None

    @classmethod
    def of(cls, tenant: Tenant) -> TenantPublic:
        overrides = tenant.overrides.model_dump(exclude_unset=True) if tenant.overrides else None
        return cls(
            id=tenant.id,
            name=tenant.name,
            plan=tenant.plan,
            status=tenant.status,
            overrides=overrides,
            cache=tenant.cache,
        )


class TenantList(BaseModel):
    version: int
    tenants: list[TenantPublic]


class PriceList(BaseModel):
    version: int
    prices: list[Price]


class CredentialPublic(BaseModel):
    """An upstream credential as the API shows it: a masked hint, never the value or its sealed form."""

    name: str
    header: str
    prefix: str
    hint: str = Field(description="the last characters of the value when it is long enough, e.g. `…wxyz`")
    updated_at: datetime
    used_by: list[str] = Field(description="models whose upstream requests carry it")

    @classmethod
    def of(cls, credential: UpstreamCredential, spec: RegistrySpec) -> CredentialPublic:
        return cls(
            name=credential.name,
            header=credential.header,
            prefix=credential.prefix,
            hint=credential.hint,
            updated_at=credential.updated_at,
            used_by=[m.name for m in spec.models if credential.name in m.upstream_credentials],
        )


class CredentialList(BaseModel):
    version: int
    credentials: list[CredentialPublic]


_VALUE_RULE = "value must be printable ASCII without leading or trailing spaces (it becomes a header value)"


class CredentialPut(BaseModel):
    """Create or rotate a credential. The value is sealed at once; no response ever shows it again."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    header: HeaderName | None = Field(default=None, description="default `authorization`")
    prefix: str | None = Field(default=None, description="text before the value; default `Bearer `")
    value: SecretStr = Field(min_length=1, max_length=8192, description="the secret, e.g. a provider API key")

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: SecretStr) -> SecretStr:
        clear = value.get_secret_value()
        if clear != clear.strip() or not all(" " <= c <= "~" for c in clear):
            raise ValueError(_VALUE_RULE)
        return value


class CredentialWrite(BaseModel):
    version: int
    changed: bool
    credential: CredentialPublic


class RegistrySpecPublic(BaseModel):
    """The registry as the API shows it: credentials masked like `GET /admin/v1/credentials` does."""

    models: list[Model]
    plans: list[Plan]
    tenants: list[Tenant]
    prices: list[Price]
    credentials: list[CredentialPublic]

    @classmethod
    def of(cls, spec: RegistrySpec) -> RegistrySpecPublic:
        return cls(
            models=list(spec.models),
            plans=list(spec.plans),
            tenants=list(spec.tenants),
            prices=list(spec.prices),
            credentials=[CredentialPublic.of(c, spec) for c in spec.credentials],
        )


class RegistryPublic(BaseModel):
    version: int
    spec: RegistrySpecPublic


class WriteResult(BaseModel):
    version: int
    changed: bool


class StatusPublic(BaseModel):
    registry_version: int
    models: int
    envoy_nodes: list[NodeStatus]


class BackendHealthPublic(BaseModel):
    """Per connected Envoy node: every model cluster's hosts, health flags and counters."""

    registry_version: int
    nodes: list[NodeHealth]


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


class RegistrationCreate(BaseModel):
    """Register a backend for a model, or heartbeat it (the same call): it stays for `ttl_s` more."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=128, description="model name or alias")
    backend: Backend
    ttl_s: float = Field(
        default=DEFAULT_REGISTRATION_TTL_S, ge=MIN_REGISTRATION_TTL_S, le=MAX_REGISTRATION_TTL_S
    )


class RegistrationList(BaseModel):
    registrations: list[BackendRegistration]


class RegistrationRemoved(BaseModel):
    removed: bool = Field(description="false when no live registration had that name (nothing to do)")


class CacheStatsList(BaseModel):
    """Cache counters of every tenant in the registry (registry `version`), in registry order."""

    version: int
    tenants: list[CacheStats]


class CachePurged(BaseModel):
    """A purge: every entry of `namespace` stored before now stops matching; ext_proc replicas drop the
    namespace's vectors as they read the cache feed."""

    tenant: str | None = Field(default=None, description="the tenant whose own namespace was purged")
    namespace: str = Field(description="`t.<tenant>` (a tenant's own) or `s.<name>` (shared)")
    generation: int = Field(description="the namespace's generation after the purge")


def _unicode_password(password: SecretStr) -> SecretStr:
    """`password` if it is Unicode text: a JSON `\\ud800` escape decodes to a lone surrogate, which
    UTF-8 cannot encode, so the password hasher would fail (a 500) instead of a 422."""
    try:
        password.get_secret_value().encode()
    except UnicodeEncodeError:
        raise ValueError("must be Unicode text (it contains a lone surrogate escape)") from None
    return password


_Password = Annotated[SecretStr, AfterValidator(_unicode_password)]
_PASSWORD_SCHEMA: dict[str, JsonValue] = {"minLength": PASSWORD_MIN_LENGTH, "maxLength": PASSWORD_MAX_LENGTH}


class UserCreate(BaseModel):
    """A new admin UI user. The password is hashed at once; no response ever shows it or its hash."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    username: str = Field(
        description="2-64 characters: lower-case letters, digits, `._@-`",
        json_schema_extra={"minLength": 2, "maxLength": 64, "pattern": "^[a-z0-9][a-z0-9._@-]*$"},
    )  # checked by the users service (its messages); the schema only documents the rule
    password: _Password = Field(description="12 to 1024 characters", json_schema_extra=_PASSWORD_SCHEMA)
    role: AdminRole
    tenant: TenantId | None = Field(default=None, description="required for (and only for) a `tenant` user")


class UserPassword(BaseModel):
    """A user's new password (12 to 1024 characters)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    password: _Password = Field(description="12 to 1024 characters", json_schema_extra=_PASSWORD_SCHEMA)


class UserPublic(BaseModel):
    """An admin UI user as the API shows it: never the password, never its hash."""

    username: str
    role: AdminRole
    tenant: str | None
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: AdminUser) -> UserPublic:
        return cls(
            username=user.username,
            role=user.role,
            tenant=user.tenant,
            disabled=user.disabled,
            created_at=user.created_at,
        )


class UserList(BaseModel):
    users: list[UserPublic]

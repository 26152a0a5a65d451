"""API keys: only the SHA-256 of the secret is ever stored; the secret is shown once, at creation."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from control_plane.model.model import ModelName
from control_plane.model.tenant import TenantId

__all__ = [
    "KEY_SECRET_PREFIX",
    "ApiKey",
    "KeyId",
    "KeyState",
    "display_prefix",
    "hash_secret",
    "new_key_id",
    "new_key_secret",
]

KEY_SECRET_PREFIX = "tw-"  # noqa: S105 (the public prefix, not a secret)
_DISPLAY_CHARS = 8  # "tw-" + 5 characters of the random part

KeyId = Annotated[str, Field(pattern=r"^key_[0-9a-f]{16}$")]
_Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class KeyState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


def new_key_secret() -> str:
    """A fresh secret: `tw-` + 43 URL-safe characters (256 bits of randomness)."""
    return KEY_SECRET_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def hash_secret(secret: str) -> str:
    """The stored form of a secret: SHA-256, lower-case hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[:_DISPLAY_CHARS]


class ApiKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: KeyId
    tenant: TenantId
    name: str = Field(default="", max_length=200)
    prefix: str = Field(max_length=16, description="the first characters of the secret, for display")
    secret_hash: _Sha256Hex
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None
    allowed_models: tuple[ModelName, ...] | None = Field(
        default=None, description="further restricts the plan's models; None = whatever the plan allows"
    )
    rotated_to: KeyId | None = Field(default=None, description="the key that replaced this one, if rotated")

    @classmethod
    def issue(
        cls,
        *,
        tenant: str,
        now: datetime,
        name: str = "",
        expires_at: datetime | None = None,
        allowed_models: tuple[str, ...] | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret; the caller shows the secret once and keeps only the key."""
        secret = new_key_secret()
        key = cls(
            id=new_key_id(),
            tenant=tenant,
            name=name,
            prefix=display_prefix(secret),
            secret_hash=hash_secret(secret),
            created_at=now,
            expires_at=expires_at,
            allowed_models=allowed_models,
        )
        return key, secret

    def state(self, now: datetime) -> KeyState:
        if self.revoked_at is not None and self.revoked_at <= now:
            return KeyState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return KeyState.EXPIRED
        return KeyState.ACTIVE

    def allows_model(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models

"""Settings of the admin process, read once from the environment in `__main__`."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from control_plane.errors import SecretKeyError
from control_plane.secret_box import SecretBox

__all__ = ["AdminSettings"]


class AdminSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOLLWAY_ADMIN_", hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=1, le=65535)
    redis_url: str = "redis://127.0.0.1:6379/0"
    cache_redis_url: str | None = Field(
        default=None,
        description="the response cache's own Redis, where purges go (the same as ext_proc's "
        "TOLLWAY_EXT_PROC_CACHE_REDIS_URL); default: `redis_url`",
    )
    token: SecretStr = Field(min_length=16, description="bearer token the CLI and API clients present")
    registration_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="bearer token that opens only /admin/v1/registrations (backends self-registering)",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="seals upstream credentials (Fernet key; `new,old` to rotate); without it credential "
        "writes are refused",
    )
    log_level: str = "info"

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                SecretBox(value)
            except SecretKeyError as exc:  # the message names the problem, never the key
                raise ValueError(str(exc)) from None
        return value

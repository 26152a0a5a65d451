"""Settings of the admin process, read once from the environment in `__main__`."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AdminSettings"]


class AdminSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOLLWAY_ADMIN_")

    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=1, le=65535)
    redis_url: str = "redis://127.0.0.1:6379/0"
    token: SecretStr = Field(min_length=16, description="bearer token the CLI and API clients present")
    log_level: str = "info"

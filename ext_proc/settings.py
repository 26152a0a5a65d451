"""ext_proc settings, from `TOLLWAY_EXT_PROC_*` environment variables or explicit values.

Built once by `ext_proc.__main__` (or a test) and passed in; nothing reads settings from a global.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ExtProcSettings", "LogLevel"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ExtProcSettings(BaseSettings):
    """One ext_proc process. The launcher starts several, each on its own port."""

    model_config = SettingsConfigDict(env_prefix="TOLLWAY_EXT_PROC_", frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", description="address the gRPC server listens on")
    port: int = Field(
        default=18080, ge=0, le=65535, description="gRPC port of this process (0: any free port)"
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="registry snapshot and feed")
    max_message_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="largest gRPC message in either direction; must exceed the largest buffered body",
    )
    snapshot_wait_s: float = Field(
        default=10.0, ge=0.0, description="how long to wait for the first registry snapshot before serving"
    )
    shutdown_grace_s: float = Field(
        default=5.0, ge=0.0, description="time open streams get to finish on stop"
    )
    log_level: LogLevel = "INFO"
    use_uvloop: bool = True

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

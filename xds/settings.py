"""Settings of the xds process, read once from the environment (`TOLLWAY_XDS_*`) in `__main__`."""

from __future__ import annotations

import os
import socket

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from control_plane.model import DEFAULT_MAX_REQUEST_BYTES, MAX_REQUEST_BYTES_CEILING
from xds.translate import TranslateOptions

__all__ = ["XdsSettings"]


def _default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class XdsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOLLWAY_XDS_", frozen=True, hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(default=18000, ge=0, le=65535, description="gRPC ADS port (0 picks a free one)")
    redis_url: str = "redis://127.0.0.1:6379/0"
    listener_host: str = "127.0.0.1"
    listener_port: int = Field(default=8080, ge=1, le=65535, description="unless a node asks for its own")
    ext_proc_cluster: str = Field(default="tollway_ext_proc", min_length=1)
    ext_proc_message_timeout_ms: int = Field(default=2000, ge=1, le=3_600_000)
    max_message_timeout_ms: int = Field(
        default=10_000, ge=1, le=3_600_000, description="ceiling for ext_proc's override_message_timeout"
    )
    max_request_bytes: int = Field(
        default=DEFAULT_MAX_REQUEST_BYTES,
        ge=1024,
        le=MAX_REQUEST_BYTES_CEILING,
        description="body size limit (Envoy buffers, ext_proc messages); ext_proc must get the same value",
    )
    instance_id: str = Field(default_factory=_default_instance_id, min_length=1)
    log_level: str = "info"
    shutdown_grace_s: float = Field(
        default=0.5, ge=0.0, le=60.0, description="ADS streams never end by themselves: keep this short"
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="opens sealed upstream credentials (same key(s) as TOLLWAY_ADMIN_SECRET_KEY)",
    )

    @model_validator(mode="after")
    def _check_timeouts(self) -> XdsSettings:
        if self.max_message_timeout_ms < self.ext_proc_message_timeout_ms:
            raise ValueError("max_message_timeout_ms must be >= ext_proc_message_timeout_ms")
        return self

    def translate_options(self) -> TranslateOptions:
        """What the pure translation needs from these settings."""
        return TranslateOptions(
            listener_host=self.listener_host,
            listener_port=self.listener_port,
            ext_proc_cluster=self.ext_proc_cluster,
            ext_proc_message_timeout_ms=self.ext_proc_message_timeout_ms,
            max_message_timeout_ms=self.max_message_timeout_ms,
            max_request_bytes=self.max_request_bytes,
        )

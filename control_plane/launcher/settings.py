"""Settings of `tollway up`: ports, state directory, how many ext_proc processes."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from control_plane.model import DEFAULT_MAX_REQUEST_BYTES, MAX_REQUEST_BYTES_CEILING

__all__ = ["MIN_ADMIN_TOKEN_LENGTH", "StackSettings"]

MIN_ADMIN_TOKEN_LENGTH = 16


class StackSettings(BaseSettings):
    """Port 0 means "pick a free port"."""

    model_config = SettingsConfigDict(env_prefix="TOLLWAY_", hide_input_in_errors=True)

    state_dir: Path = Path(".tollway")
    redis_url: str | None = Field(
        default=None, description="use this Redis/Valkey instead of embedded Valkey"
    )
    cache_redis_url: str | None = Field(
        default=None,
        description="a separate Redis/Valkey for response-cache entries and its index feed (ext_proc writes "
        "them, the admin API purges them); default: the governance Redis",
    )
    listener_port: int = Field(default=8080, ge=0, le=65535)
    admin_port: int = Field(default=8081, ge=0, le=65535)
    xds_port: int = Field(default=0, ge=0, le=65535)
    envoy_admin_port: int = Field(default=0, ge=0, le=65535)
    envoy_admin_advertise_host: str | None = Field(
        default=None,
        description="host in the admin URL each Envoy advertises to the admin API (default: where it binds)",
    )
    ext_proc_workers: int = Field(default=2, ge=1, le=32)
    envoy_concurrency: int = Field(default=2, ge=1, le=64)
    envoys: int = Field(
        default=1,
        ge=1,
        le=8,
        description="Envoy processes; the first listens on listener_port, others anywhere",
    )
    max_request_bytes: int = Field(
        default=DEFAULT_MAX_REQUEST_BYTES,
        ge=1024,
        le=MAX_REQUEST_BYTES_CEILING,
        description="THE body size limit: passed to xds (Envoy's buffers, ext_proc message size) and to "
        "every ext_proc (its gRPC message size); larger requests get a JSON 413 `request_too_large`",
    )
    ext_proc_options: dict[str, str] = Field(
        default_factory=dict,
        description="extra ext_proc settings (name → value, as TOLLWAY_EXT_PROC_<NAME>), e.g. lease_ttl_s",
    )
    envoy_bin: str | None = Field(default=None, description="path of the envoy binary (default: PATH, venv)")
    admin_token: SecretStr | None = Field(
        default=None, min_length=MIN_ADMIN_TOKEN_LENGTH, description="default: generated once per state dir"
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="seals upstream credentials (Fernet key(s), `new,old`); default: generated once per "
        "state dir into <state_dir>/secret-key",
    )
    demo: bool = Field(default=True, description="register the demo model on a local mock upstream")
    demo_model: str = "demo"
    log_level: str = "warning"
    start_timeout_s: float = Field(default=60.0, gt=0)

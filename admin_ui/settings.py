"""Settings of the admin process, read once from the environment in `__main__`."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from admin_ui.web.csrf import derive_ui_secret
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
    session_idle_ttl_s: int = Field(
        default=8 * 3600, ge=60, description="a UI session ends after this long without a request"
    )
    session_absolute_ttl_s: int = Field(
        default=24 * 3600, ge=60, description="a UI session ends this long after sign-in, used or not"
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="mark UI cookies `Secure` (sent over HTTPS only); default: yes, unless `host` is a "
        "loopback address (plain-HTTP local use). Set it to true behind a TLS-terminating proxy on "
        "loopback, false only for plain HTTP on a trusted network",
    )
    ui_secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="HMAC secret of the sign-in form's CSRF tokens (the same on every replica); default: "
        "derived from `token` with HKDF-SHA256 and a fixed label, so changing the token changes it",
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="failed UI sign-ins per username (4x per address) before a wait"
    )
    login_window_s: int = Field(default=900, ge=1, description="how long failed sign-ins are counted")

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                SecretBox(value)
            except SecretKeyError as exc:  # the message names the problem, never the key
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _check_session_ttls(self) -> AdminSettings:
        if self.session_absolute_ttl_s < self.session_idle_ttl_s:
            raise ValueError("session_absolute_ttl_s must be at least session_idle_ttl_s")
        return self

    def secure_cookies(self) -> bool:
        """Whether UI cookies are `Secure`: `cookie_secure`, else whether `host` is not loopback."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return not _is_loopback(self.host)

    def login_csrf_secret(self) -> bytes:
        """The HMAC secret of the sign-in CSRF tokens: `ui_secret`, or one derived from `token`."""
        if self.ui_secret is not None:
            return self.ui_secret.get_secret_value().encode()
        return derive_ui_secret(self.token.get_secret_value())


def _is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1); `0.0.0.0` and names are not."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

"""A model backend: one OpenAI-compatible server (or provider endpoint) that can serve a model."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Backend", "BackendName", "ProviderKind"]

_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"

BackendName = Annotated[str, Field(pattern=_NAME_PATTERN, description="lower-case DNS label")]


class ProviderKind(StrEnum):
    """What speaks at the other end; all of them take the OpenAI wire format today."""

    OPENAI_COMPATIBLE = "openai-compatible"
    OPENAI = "openai"
    VLLM = "vllm"


class Backend(BaseModel):
    """One upstream server for a model, addressed by its OpenAI base URL (e.g. `http://10.0.0.5:8000/v1`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: BackendName
    provider: ProviderKind = ProviderKind.OPENAI_COMPATIBLE
    base_url: str = Field(description="OpenAI base URL, scheme http or https, e.g. http://127.0.0.1:8000/v1")
    weight: int = Field(default=1, ge=1, le=1000, description="relative share of traffic within a priority")
    priority: int = Field(
        default=0, ge=0, le=7, description="0 is preferred; higher priorities are fallbacks"
    )
    connect_timeout_s: float = Field(default=5.0, gt=0.0, le=60.0)
    ca_file: str | None = Field(
        default=None,
        description="CA bundle path on the Envoy host for https backends (system default if unset)",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            raise ValueError("base_url must start with http:// or https://")
        if not parts.hostname:
            raise ValueError("base_url needs a host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("base_url must not carry a query, fragment or credentials")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError("base_url has an invalid port") from exc
        if not re.fullmatch(r"[A-Za-z0-9._~/-]*", parts.path):
            raise ValueError("base_url path has characters that are not allowed")
        return value.rstrip("/")

    @property
    def scheme(self) -> str:
        return urlsplit(self.base_url).scheme

    @property
    def host(self) -> str:
        host = urlsplit(self.base_url).hostname
        assert host is not None  # guaranteed by the validator
        return host

    @property
    def port(self) -> int:
        parts = urlsplit(self.base_url)
        if parts.port is not None:
            return parts.port
        return 443 if parts.scheme == "https" else 80

    @property
    def base_path(self) -> str:
        """The URL path without a trailing slash ("" for a bare host)."""
        return urlsplit(self.base_url).path.rstrip("/")

    @property
    def host_is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    @property
    def uses_tls(self) -> bool:
        return self.scheme == "https"

"""A model as clients name it, with the backends that serve it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from control_plane.model.backend import Backend
from control_plane.model.cache_policy import CachePolicy
from control_plane.model.credential import CredentialName
from control_plane.model.headers import CLIENT_CREDENTIAL_HEADERS, gateway_managed_header
from control_plane.model.registration_policy import RegistrationPolicy
from control_plane.model.traffic import HeaderName, TrafficPolicy

__all__ = ["Model", "ModelName"]

ModelName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$",
        description="the name clients put in the request's `model` field",
    ),
]


class Model(BaseModel):
    """A model clients can call; requests are spread over its backends by weight, priority as fallback."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ModelName
    aliases: tuple[ModelName, ...] = ()
    description: str = Field(default="", max_length=1000)
    owned_by: str = Field(default="tollway", max_length=128)
    backends: tuple[Backend, ...] = Field(min_length=1)
    traffic: TrafficPolicy = TrafficPolicy()
    upstream_credentials: tuple[CredentialName, ...] = Field(
        default=(), description="registry credentials whose headers Envoy adds to every upstream request"
    )
    registration: RegistrationPolicy | None = Field(
        default=None, description="lets backends register themselves (off when unset)"
    )
    upstream_headers: dict[HeaderName, str] = Field(
        default_factory=dict,
        description="fixed, non-secret headers for every upstream request (e.g. openai-organization)",
    )
    cache: CachePolicy | None = Field(
        default=None,
        description="response-cache settings for this model: `enabled: false` vetoes caching for every "
        "tenant; layers, threshold and TTL override the tenant's (no namespace: sharing is a tenant opt-in)",
    )

    @model_validator(mode="after")
    def _check(self) -> Model:
        names = [b.name for b in self.backends]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model {self.name!r}: duplicate backend names {duplicates}")
        if self.name in self.aliases:
            raise ValueError(f"model {self.name!r}: an alias equals the model name")
        if len(set(self.aliases)) != len(self.aliases):
            raise ValueError(f"model {self.name!r}: duplicate aliases")
        paths = {(b.scheme, b.base_path) for b in self.backends}
        if len(paths) > 1:
            raise ValueError(
                f"model {self.name!r}: all backends must share one scheme and base path, got {sorted(paths)}"
            )
        if self.cache is not None and self.cache.namespace is not None:
            raise ValueError(f"model {self.name!r}: a cache namespace is set on plans or tenants, not models")
        if len(set(self.upstream_credentials)) != len(self.upstream_credentials):
            raise ValueError(f"model {self.name!r}: a credential is listed twice")
        for header, value in self.upstream_headers.items():
            if header in CLIENT_CREDENTIAL_HEADERS or gateway_managed_header(header):
                raise ValueError(
                    f"model {self.name!r}: header {header!r} cannot be a plain upstream header "
                    "(it is the gateway's, or a secret that belongs in a credential)"
                )
            # `%` would be read by Envoy's header formatter (a command, or a NACK of every route).
            if len(value) > 1024 or any(c in value for c in "\r\n\0%"):
                raise ValueError(
                    f"model {self.name!r}: header {header!r} needs a value of at most 1024 characters "
                    "without line breaks or '%'"
                )
        return self

    @property
    def priorities(self) -> int:
        """How many distinct priority levels the backends use (1 = no fallback)."""
        return len({b.priority for b in self.backends})

    @property
    def base_path(self) -> str:
        return self.backends[0].base_path

    @property
    def uses_tls(self) -> bool:
        return self.backends[0].uses_tls

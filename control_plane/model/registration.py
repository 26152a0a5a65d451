"""A backend that registered itself for a model (service discovery), alive until its lease expires.

Registered backends join a model's static (registry) backends in Envoy's EDS while they heart-beat.
They must be addressed by an IP literal or `localhost`: a DNS name would turn the model's cluster into
STRICT_DNS and every registration into a cluster change instead of an endpoint change.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from control_plane.model.backend import Backend
from control_plane.model.model import Model, ModelName

__all__ = [
    "DEFAULT_REGISTRATION_TTL_S",
    "MAX_REGISTRATION_TTL_S",
    "MIN_REGISTRATION_TTL_S",
    "BackendRegistration",
    "registration_problems",
]

DEFAULT_REGISTRATION_TTL_S = 15.0
MIN_REGISTRATION_TTL_S = 3.0
MAX_REGISTRATION_TTL_S = 600.0


class BackendRegistration(BaseModel):
    """One live registration; `expires_at` is set by the store on every heartbeat (now + `ttl_s`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelName
    backend: Backend
    ttl_s: float = Field(
        default=DEFAULT_REGISTRATION_TTL_S,
        ge=MIN_REGISTRATION_TTL_S,
        le=MAX_REGISTRATION_TTL_S,
        description="the backend leaves the gateway this long after its last heartbeat",
    )
    expires_at: AwareDatetime

    @property
    def key(self) -> tuple[str, str]:
        """What identifies a registration: (model, backend name)."""
        return (self.model, self.backend.name)

    def same_endpoint(self, other: BackendRegistration) -> bool:
        """Equal but for the lease: a heartbeat, not a change Envoy needs to hear about."""
        return self.model == other.model and self.backend == other.backend


def registration_problems(model: Model, backend: Backend) -> list[str]:
    """Why `backend` cannot join `model`'s static backends (empty when it can), as readable sentences."""
    problems: list[str] = []
    if not backend.host_is_ip and backend.host != "localhost":
        problems.append(
            f"backend {backend.name!r}: a registered backend must be addressed by an IP literal or "
            f"localhost, not {backend.host!r} (DNS names need a registry backend)"
        )
    static = model.backends[0]
    if (backend.scheme, backend.base_path) != (static.scheme, static.base_path):
        expected = f"{static.scheme}://<host>:<port>{static.base_path}"
        problems.append(
            f"backend {backend.name!r}: model {model.name!r} is served as {expected}; "
            f"{backend.base_url!r} has another scheme or base path"
        )
    if any(b.name == backend.name for b in model.backends):
        problems.append(f"backend {backend.name!r}: model {model.name!r} has a registry backend of that name")
    if backend.ca_file is not None:
        problems.append(f"backend {backend.name!r}: a registered backend cannot set ca_file")
    return problems

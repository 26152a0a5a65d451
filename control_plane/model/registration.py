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
    "uses_dns_names",
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


def _policy_problems(model: Model, backend: Backend) -> list[str]:
    """The model's own consent: a registration policy, and a backend within it."""
    policy = model.registration
    if policy is None:
        return [
            f"model {model.name!r} does not accept self-registered backends (its `registration` is unset)"
        ]
    problems: list[str] = []
    if model.upstream_credentials:
        problems.append(
            f"model {model.name!r} sends a provider credential upstream; it does not accept "
            "self-registered backends"
        )
    if model.uses_tls or uses_dns_names(model):
        problems.append(
            f"model {model.name!r} uses TLS or DNS-named backends; registrations would change its "
            "cluster, not only its endpoints"
        )
    address = "127.0.0.1" if backend.host == "localhost" else backend.host
    if (backend.host_is_ip or backend.host == "localhost") and not policy.allows_address(address):
        problems.append(f"backend {backend.name!r}: {backend.host} is outside the model's allowed networks")
    if backend.weight > policy.max_weight:
        problems.append(f"backend {backend.name!r}: weight {backend.weight} is above {policy.max_weight}")
    if backend.priority < policy.min_priority:
        problems.append(
            f"backend {backend.name!r}: priority {backend.priority} is below {policy.min_priority}"
        )
    return problems


def uses_dns_names(model: Model) -> bool:
    return any(not b.host_is_ip and b.host != "localhost" for b in model.backends)


def registration_problems(model: Model, backend: Backend) -> list[str]:
    """Why `backend` cannot join `model`'s static backends (empty when it can), as readable sentences."""
    problems = _policy_problems(model, backend)
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

"""Whether and how backends may register themselves for a model (off unless the model says so).

A registered backend receives tenants' prompts and takes a share of the traffic, so who may join is the
operator's decision: the networks registered hosts must be in, how many may join, how much weight each
may claim and at which priorities.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RegistrationPolicy"]


class RegistrationPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = Field(
        min_length=1, description="registered hosts must have an address in one of these, e.g. 10.0.0.0/8"
    )
    max_backends: int = Field(default=16, ge=1, le=1000, description="live registrations at once")
    max_weight: int = Field(default=100, ge=1, le=1000)
    min_priority: int = Field(
        default=0, ge=0, le=7, description="registered backends cannot take precedence over this priority"
    )

    def allows_address(self, address: str) -> bool:
        host = ip_address(address)
        return any(host in network for network in self.allowed_networks)

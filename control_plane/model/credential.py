"""Upstream credentials: what the gateway sends to a provider on behalf of every client (an API key).

The registry stores only the sealed value (encrypted with the deployment's secret key, see
`control_plane.secret_box`) and a masked hint for display. Clients never send or see these values; Envoy
receives them over SDS (which its config dump redacts) and adds the header to each upstream request.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from control_plane.model.headers import gateway_managed_header
from control_plane.model.traffic import HeaderName

__all__ = ["CredentialName", "UpstreamCredential", "mask_secret"]

CredentialName = Annotated[
    str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description="lower-case DNS label")
]

_HINT_CHARS = 4


def mask_secret(value: str) -> str:
    """What may be shown of a secret: its last few characters, only when it is long enough to keep most
    of it hidden (`…wxyz`), else nothing (`…`)."""
    if len(value) < 4 * _HINT_CHARS:
        return "…"
    return "…" + value[-_HINT_CHARS:]


class UpstreamCredential(BaseModel):
    """One secret header value for upstream requests, e.g. `authorization: Bearer sk-…`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: CredentialName
    header: HeaderName = "authorization"
    prefix: str = Field(
        default="Bearer ", max_length=32, pattern=r"^[A-Za-z0-9 ._-]*$", description="text before the secret"
    )
    sealed_value: str = Field(
        min_length=1, max_length=16_384, description="the secret, encrypted; never the clear text"
    )
    hint: str = Field(default="…", max_length=8, description="masked form for display, e.g. `…wxyz`")
    updated_at: AwareDatetime

    @field_validator("header")
    @classmethod
    def _check_header(cls, value: str) -> str:
        if gateway_managed_header(value):
            raise ValueError(f"header {value!r} is managed by the gateway and cannot carry a credential")
        return value

"""The billing ledger's record: exactly one per request that reached the gateway with a valid key."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["LedgerRecord", "RequestOutcome"]


class RequestOutcome(StrEnum):
    OK = "ok"
    """The upstream answered 2xx and the whole response reached Envoy."""
    UPSTREAM_ERROR = "upstream_error"
    """The upstream (or Envoy on its behalf) answered with an error status."""
    INCOMPLETE = "incomplete"
    """The response ended before its end: the client went away, or the upstream was cut or stalled (Envoy
    then resets the client's stream, so the client sees an error, never a clean end). The gateway cannot
    tell these apart from its side; tokens are what was delivered (estimated unless usage arrived)."""
    UPSTREAM_CUT = "upstream_cut"
    """The upstream ended the stream cleanly but without its end marker (`[DONE]`) or with an error event."""
    REJECTED = "rejected"
    """Refused by the gateway before the upstream (quota, budget, model not allowed, bad request)."""
    CACHE_HIT = "cache_hit"
    """Answered by the gateway's response cache; no upstream call. Tokens are the cached answer's when
    the tenant's cache policy bills hits at the cache price, 0 when hits are free."""
    LOST = "lost"
    """The replica handling the request died; the reconciler billed what was reserved (estimated)."""


class LedgerRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(min_length=1, max_length=128)
    tenant: str
    key_id: str
    model: str = ""
    backend: str = ""
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cached_tokens: int = Field(default=0, ge=0)
    cost_pico: int = Field(default=0, ge=0, description="what this request adds to the tenant's spend")
    price_version: str = Field(default="", description="`Price.version` used, empty when none applied")
    outcome: RequestOutcome
    status_code: int = 0
    error_code: str = ""
    stream: bool = False
    cache_hit: bool = False
    estimated: bool = Field(default=False, description="tokens are the gateway's estimate, not upstream's")
    started_at: AwareDatetime
    finished_at: AwareDatetime

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

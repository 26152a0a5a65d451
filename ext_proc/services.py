"""Everything a request processor uses, built once per process and shared by every stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from control_plane.model import DEFAULT_MAX_REQUEST_BYTES
from ext_proc.cache.service import ResponseCache
from ext_proc.governance.contracts import Authenticator, BillingSink, PolicyTableSource, QuotaGate
from ext_proc.model_table import ModelTableHolder
from ext_proc.token_count import TokenCounter

__all__ = ["GatewayServices", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class GatewayServices:
    models: ModelTableHolder
    policies: PolicyTableSource
    authenticator: Authenticator
    gate: QuotaGate
    billing: BillingSink
    tokens: TokenCounter
    cache: ResponseCache | None = None
    """The response cache; None when the process runs without one."""
    clock: Callable[[], datetime] = field(default=utc_now)
    max_json_response_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """A JSON response is kept whole up to this size (to read usage and cache it); past it, its tail."""

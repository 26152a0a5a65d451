"""In-memory fakes of the governance Protocols the request processors call (ext_proc.governance.contracts).

    authenticator = FakeAuthenticator({"tw-acme": Principal(tenant="acme", key_id="key_a")})
    gate = FakeGate()                      # admits everything; `gate.refusal = RateLimitedError(...)`
    billing = FakeBilling()                # `billing.finished`, `billing.rejected`

Each fake records what it was called with, so a test can assert exact calls and counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ext_proc.errors import AuthUnavailableError, GatewayError, InvalidApiKeyError
from ext_proc.governance.contracts import Admission, AdmissionRequest, Principal, RequestResult

__all__ = [
    "RATE_LIMIT_HEADERS",
    "RESERVED_COST_PICO",
    "FakeAuthenticator",
    "FakeBilling",
    "FakeGate",
    "FixedClock",
    "Rejection",
]

RATE_LIMIT_HEADERS = (
    ("x-ratelimit-limit-requests", "60"),
    ("x-ratelimit-remaining-requests", "59"),
    ("x-ratelimit-reset-requests", "1s"),
)
RESERVED_COST_PICO = 123_456


class FixedClock:
    """A clock that says `now` until a test moves it (`advance`)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class FakeAuthenticator:
    """Secret → Principal. The secret comes from `authorization: Bearer`, else `api-key`, else `x-api-key`.

    Unknown or missing secrets raise `InvalidApiKeyError`; with `unavailable` set every call raises
    `AuthUnavailableError`. `seen` keeps the headers of every call.
    """

    def __init__(self, keys: Mapping[str, Principal]) -> None:
        self.keys = dict(keys)
        self.unavailable = False
        self.seen: list[dict[str, str]] = []

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        self.seen.append(dict(headers))
        if self.unavailable:
            raise AuthUnavailableError()
        authorization = headers.get("authorization", "")
        secret = authorization[7:] if authorization.lower().startswith("bearer ") else ""
        secret = secret or headers.get("api-key", "") or headers.get("x-api-key", "")
        principal = self.keys.get(secret)
        if principal is None:
            raise InvalidApiKeyError()
        return principal


class FakeGate:
    """Admits every request with `RATE_LIMIT_HEADERS`, or raises `refusal` when one is set."""

    def __init__(self) -> None:
        self.requests: list[AdmissionRequest] = []
        self.refusal: GatewayError | None = None
        self.rate_limit_headers: tuple[tuple[str, str], ...] = RATE_LIMIT_HEADERS

    async def admit(self, request: AdmissionRequest) -> Admission:
        self.requests.append(request)
        if self.refusal is not None:
            raise self.refusal
        return Admission(
            request=request, reserved_cost_pico=RESERVED_COST_PICO, rate_limit_headers=self.rate_limit_headers
        )


@dataclass(frozen=True, slots=True)
class Rejection:
    """The keyword arguments of one `BillingSink.reject` call."""

    request_id: str
    principal: Principal
    model: str
    status_code: int
    error_code: str
    stream: bool
    started_at: datetime


class FakeBilling:
    """Records every `finish(admission, result)` and `reject(...)` call, in order."""

    def __init__(self) -> None:
        self.finished: list[tuple[Admission, RequestResult]] = []
        self.rejected: list[Rejection] = []

    def finish(self, admission: Admission, result: RequestResult) -> None:
        self.finished.append((admission, result))

    def reject(
        self,
        *,
        request_id: str,
        principal: Principal,
        model: str,
        status_code: int,
        error_code: str,
        stream: bool,
        started_at: datetime,
        limits: object = None,
    ) -> None:
        self.rejected.append(
            Rejection(request_id, principal, model, status_code, error_code, stream, started_at)
        )

    @property
    def results(self) -> list[RequestResult]:
        return [result for _, result in self.finished]

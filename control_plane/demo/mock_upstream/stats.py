"""What reached the mock and what it answered, for `GET /mock/stats`: counters, usage totals, a log.

Tests compare the gateway's ledger with what the upstream really reported: `usage` sums every usage
object the mock put on the wire (chat and completion replies only), and `generations` has one record
per generated reply with the completion tokens actually sent (one per content chunk that was handed to
the server before a cut, a stall or the client going away) and the usage it carried, if any.

`arrivals` has one entry per request to a generating route (chat, completions, embeddings), injected
failures included, taken when the request reached the app: wall-clock time, so that a test in another
process can measure e.g. the gap between a 429 and its retry (same `x-request-id`), and the status the
mock answered once it started the response.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Arrival", "GenerationRecord", "MockStats", "Outcome"]

_LOG_SIZE = 10_000
_USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens")


class Outcome(StrEnum):
    """How a generated reply ended, seen from the mock."""

    COMPLETED = "completed"
    CUT = "cut"
    """Dropped on purpose (`x-mock-cut-after`)."""
    STALLED = "stalled"
    """Stopped sending on purpose (`x-mock-stall-after`) until the client went away."""
    ABORTED = "aborted"
    """The client went away while the reply was being sent."""


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    """One chat or completion reply (injected failures are not generations)."""

    request_id: str | None
    """The request's `x-request-id` (Envoy forwards its own), to join with the gateway's ledger."""
    endpoint: str
    model: str
    stream: bool
    outcome: Outcome
    prompt_tokens: int
    """The mock's own count, whatever the reply reported."""
    completion_tokens_sent: int
    """Content tokens that reached the wire: for a plain reply all of them, or 0 when it was not sent
    whole (a truncated JSON body carries nothing a client can use)."""
    usage: dict[str, Any] | None
    """The usage object sent with this reply, None when none was sent."""


@dataclass(slots=True)
class Arrival:
    """One request to a generating route, logged as it arrived; `status` is filled in when answered."""

    time: float
    """`time.time()` at arrival: seconds since the epoch, comparable across processes on one host."""
    monotonic: float
    """`time.monotonic()` at arrival, comparable within the mock's process only."""
    path: str
    request_id: str | None
    """The request's `x-request-id`; Envoy keeps it across the retries of one request."""
    status: int | None = None
    """The status the mock answered; None while no response has started (headers held back, a plain
    reply still generating or stalled) or when the client left before it did."""
    credentials: dict[str, str] = field(default_factory=dict)
    """The credential headers received (`authorization`, `api-key`, `x-api-key`), so that tests can check
    what a gateway forwards. A test double only: a real server never logs these."""


class MockStats:
    """What reached this server since start or the last `POST /mock/reset`."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.failures_injected = 0
        self.streams: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.usage: Counter[str] = Counter()
        self.generations: deque[GenerationRecord] = deque(maxlen=_LOG_SIZE)
        self.arrivals: deque[Arrival] = deque(maxlen=_LOG_SIZE)

    def arrival(
        self, path: str, request_id: str | None, credentials: dict[str, str] | None = None
    ) -> Arrival:
        """Log a request to a generating route now; the caller sets `status` when it answers."""
        entry = Arrival(time.time(), time.monotonic(), path, request_id, credentials=credentials or {})
        self.arrivals.append(entry)
        return entry

    def usage_sent(self, usage: dict[str, Any] | None) -> None:
        """Count one usage object that went on the wire."""
        if usage is None:
            return
        self.usage["reported"] += 1
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            self.usage[name] += int(usage.get(name, 0))
        details = usage.get("prompt_tokens_details") or {}
        self.usage["cached_tokens"] += int(details.get("cached_tokens", 0))

    def generation(self, record: GenerationRecord) -> None:
        self.generations.append(record)
        self.usage["completion_tokens_sent"] += record.completion_tokens_sent

    def snapshot(self) -> dict[str, Any]:
        streams = ("started", "completed", "cut", "stalled", "aborted")
        return {
            "requests": dict(self.requests),
            "failures_injected": self.failures_injected,
            "streams": {key: self.streams[key] for key in streams},
            "responses": {key: self.responses[key] for key in ("completed", "cut", "stalled")},
            "usage": {key: self.usage[key] for key in ("reported", *_USAGE_FIELDS, "completion_tokens_sent")},
            "generations": [asdict(record) for record in self.generations],
            "arrivals": [asdict(entry) for entry in self.arrivals],
        }

    def reset(self) -> None:
        self.requests.clear()
        self.failures_injected = 0
        self.streams.clear()
        self.responses.clear()
        self.usage.clear()
        self.generations.clear()
        self.arrivals.clear()

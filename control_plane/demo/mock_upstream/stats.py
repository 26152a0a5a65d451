"""What reached the mock and what it answered, for `GET /mock/stats`: counters, usage totals, a log.

Tests compare the gateway's ledger with what the upstream really reported: `usage` sums every usage
object the mock put on the wire (chat and completion replies only), and `generations` has one record
per generated reply with the completion tokens actually sent (one per content chunk that was handed to
the server before a cut, a stall or the client going away) and the usage it carried, if any.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = ["GenerationRecord", "MockStats", "Outcome"]

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


class MockStats:
    """What reached this server since start or the last `POST /mock/reset`."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.failures_injected = 0
        self.streams: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.usage: Counter[str] = Counter()
        self.generations: deque[GenerationRecord] = deque(maxlen=_LOG_SIZE)

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
        }

    def reset(self) -> None:
        self.requests.clear()
        self.failures_injected = 0
        self.streams.clear()
        self.responses.clear()
        self.usage.clear()
        self.generations.clear()

"""OpenAI's rate-limit response headers, built from what the admission script reports.

`x-ratelimit-{limit,remaining,reset}-{requests,tokens}`: the limit per minute, what is left now, and the
time until the bucket is full again, formatted like OpenAI (Go durations: "120ms", "1s", "1.5s",
"6m0s", "1h2m3s"). Refusals also carry `retry-after` in whole seconds (rounded up, at least 1).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BucketState", "format_reset", "rate_limit_headers", "retry_after_s"]


@dataclass(frozen=True, slots=True)
class BucketState:
    """One per-minute bucket as seen by the admission: limit, remaining, milliseconds until full."""

    limit: int
    remaining: int
    reset_ms: int


def format_reset(ms: int) -> str:
    """A duration in OpenAI's (Go's) style: under a second in ms, else h/m/s with trimmed decimals."""
    ms = max(0, ms)
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = f"{seconds}.{millis:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def retry_after_s(ms: int) -> int:
    """Whole seconds to wait, rounded up, at least 1."""
    return max(1, -(-ms // 1000))


def rate_limit_headers(
    requests: BucketState | None, tokens: BucketState | None
) -> tuple[tuple[str, str], ...]:
    """The `x-ratelimit-*` headers for the dimensions that have a limit."""
    headers: list[tuple[str, str]] = []
    for name, state in (("requests", requests), ("tokens", tokens)):
        if state is None:
            continue
        headers.append((f"x-ratelimit-limit-{name}", str(state.limit)))
        headers.append((f"x-ratelimit-remaining-{name}", str(max(0, state.remaining))))
        headers.append((f"x-ratelimit-reset-{name}", format_reset(state.reset_ms)))
    return tuple(headers)

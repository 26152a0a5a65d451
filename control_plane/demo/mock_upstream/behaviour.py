"""How one request should misbehave: `x-mock-*` headers over server-wide defaults; the fail-times ledger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, ValidationError, create_model

from control_plane.demo.mock_upstream.reply import UsageMode
from control_plane.demo.mock_upstream.settings import BEHAVIOUR_FIELDS, MockUpstreamSettings

__all__ = [
    "BACKEND_HEADER",
    "Behaviour",
    "BehaviourError",
    "FailureLedger",
    "MockHeader",
    "UsageMode",
    "behaviour_defaults",
    "replace_behaviour",
]

BACKEND_HEADER = "x-mock-backend"
"""Response header carrying the server's name on every answer."""

_MAX_TOKENS = 1_000_000
_MAX_DELAY_MS = 3_600_000
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

_SETTINGS_FIELDS = MockUpstreamSettings.model_fields
_BEHAVIOUR_DEFINITIONS: dict[str, Any] = {
    name: (_SETTINGS_FIELDS[name].annotation, _SETTINGS_FIELDS[name]) for name in BEHAVIOUR_FIELDS
}
_BehaviourBody = create_model(
    "_BehaviourBody", __config__=ConfigDict(extra="forbid", strict=True), **_BEHAVIOUR_DEFINITIONS
)
"""The behaviour fields of the settings, with their bounds, for checking a `PUT /mock/behaviour` body."""


class MockHeader(StrEnum):
    """Request headers that select a behaviour for that request only (lower-case, as on the wire).

    `x-mock-retry-after`, `x-mock-fail-times` and `x-mock-fail-key` only count next to `x-mock-status`.
    """

    STATUS = "x-mock-status"
    RETRY_AFTER = "x-mock-retry-after"
    FAIL_TIMES = "x-mock-fail-times"
    FAIL_KEY = "x-mock-fail-key"
    FIRST_TOKEN_DELAY_MS = "x-mock-first-token-delay-ms"  # noqa: S105 - a header name, not a secret
    INTER_TOKEN_DELAY_MS = "x-mock-inter-token-delay-ms"  # noqa: S105 - a header name, not a secret
    CUT_AFTER = "x-mock-cut-after"
    STALL_AFTER = "x-mock-stall-after"
    TOKENS = "x-mock-tokens"
    USAGE = "x-mock-usage"
    """`report` (default), `omit` (no usage at all) or `zero` (all counts zero); see `UsageMode`."""
    CACHED_TOKENS = "x-mock-cached-tokens"
    """Reported as `usage.prompt_tokens_details.cached_tokens` (absent without this header)."""
    HOLD_HEADERS = "x-mock-hold-headers"
    """`1` or `0`: a stream's response headers go out only together with its first event."""


class BehaviourError(ValueError):
    """An `x-mock-*` header or a `PUT /mock/behaviour` body the mock cannot use; answered with 400."""


@dataclass(frozen=True, slots=True)
class Behaviour:
    """The resolved knobs of one request. `None` means the knob is off."""

    status: int | None = None
    retry_after_s: int | None = None
    fail_times: int | None = None
    fail_key: str = ""
    first_token_delay_ms: int = 0
    inter_token_delay_ms: int = 0
    tokens: int | None = None
    cut_after: int | None = None
    stall_after: int | None = None
    usage: UsageMode = UsageMode.REPORT
    cached_tokens: int | None = None
    hold_headers: bool = False

    @classmethod
    def resolve(cls, headers: Mapping[str, str], defaults: MockUpstreamSettings) -> Behaviour:
        """Read the `x-mock-*` headers (lower-case keys), falling back to the server's settings.

        The failure knobs go together: with `x-mock-status` present, status, retry-after, fail-times and
        fail-key all come from the request; without it, all from the settings.
        """
        if MockHeader.STATUS in headers:
            status = _int(headers, MockHeader.STATUS, None, low=400, high=599)
            retry_after = _int(headers, MockHeader.RETRY_AFTER, None)
            fail_times = _int(headers, MockHeader.FAIL_TIMES, None)
            fail_key = headers.get(MockHeader.FAIL_KEY, "")
        else:
            status, retry_after, fail_times = (
                defaults.fail_status,
                defaults.retry_after_s,
                defaults.fail_times,
            )
            fail_key = ""
        first_ms, inter_ms = defaults.first_token_delay_ms, defaults.inter_token_delay_ms
        return cls(
            status=status,
            retry_after_s=retry_after,
            fail_times=fail_times,
            fail_key=fail_key,
            first_token_delay_ms=_delay(headers, MockHeader.FIRST_TOKEN_DELAY_MS, first_ms),
            inter_token_delay_ms=_delay(headers, MockHeader.INTER_TOKEN_DELAY_MS, inter_ms),
            tokens=_int(headers, MockHeader.TOKENS, defaults.tokens, high=_MAX_TOKENS),
            cut_after=_int(headers, MockHeader.CUT_AFTER, defaults.cut_after),
            stall_after=_int(headers, MockHeader.STALL_AFTER, defaults.stall_after),
            usage=_usage_mode(headers, defaults.usage),
            cached_tokens=_int(headers, MockHeader.CACHED_TOKENS, defaults.cached_tokens, high=_MAX_TOKENS),
            hold_headers=_flag(headers, MockHeader.HOLD_HEADERS, defaults.hold_headers),
        )

    def generation_s(self, tokens: int) -> float:
        """Seconds a non-streamed reply of `tokens` words takes: first token plus the gaps between tokens."""
        gaps = max(tokens - 1, 0)
        return (self.first_token_delay_ms + gaps * self.inter_token_delay_ms) / 1000.0


class FailureLedger:
    """Counts requests per fail key so that `fail_times` fails only the first N of them (per process)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def should_fail(self, behaviour: Behaviour) -> bool:
        """Whether this request gets the injected status; with `fail_times`, counts it against its key."""
        if behaviour.status is None:
            return False
        if behaviour.fail_times is None:
            return True
        seen = self._seen.get(behaviour.fail_key, 0) + 1
        self._seen[behaviour.fail_key] = seen
        return seen <= behaviour.fail_times

    def forget(self, key: str) -> None:
        """Start counting `key` afresh."""
        self._seen.pop(key, None)

    def reset(self) -> None:
        """Forget every key."""
        self._seen.clear()


def behaviour_defaults(settings: MockUpstreamSettings) -> dict[str, object]:
    """The server-wide failure and timing defaults in force, as `GET /mock/behaviour` shows them."""
    dumped = settings.model_dump(mode="json", include=set(BEHAVIOUR_FIELDS))
    return {name: dumped[name] for name in BEHAVIOUR_FIELDS}


def replace_behaviour(startup: MockUpstreamSettings, body: object) -> MockUpstreamSettings:
    """The startup settings with the behaviour fields of a `PUT /mock/behaviour` body in place.

    Fields the body leaves out keep their startup values, so two PUTs never add up. Values are checked
    strictly (no `"5"` for 5, no `1` for true) against the same bounds as the settings.
    """
    if not isinstance(body, dict):
        raise BehaviourError("the behaviour must be a JSON object")
    unknown = sorted(set(body) - set(BEHAVIOUR_FIELDS))
    if unknown:
        raise BehaviourError(f"unknown behaviour fields {unknown}; known: {list(BEHAVIOUR_FIELDS)}")
    try:
        checked = _BehaviourBody.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise BehaviourError(f"invalid behaviour: {problems}") from None
    return startup.model_copy(update=checked.model_dump(include=set(body)))


def _int(
    headers: Mapping[str, str], header: MockHeader, default: int | None, low: int = 0, high: int | None = None
) -> int | None:
    raw = headers.get(header)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise BehaviourError(f"header {header} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BehaviourError(f"header {header} must be {bounds}, got {value}")
    return value


def _flag(headers: Mapping[str, str], header: MockHeader, default: bool) -> bool:
    raw = headers.get(header)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BehaviourError(f"header {header} must be 1 or 0, got {raw!r}")


def _delay(headers: Mapping[str, str], header: MockHeader, default: int) -> int:
    value = _int(headers, header, default, high=_MAX_DELAY_MS)
    return default if value is None else value


def _usage_mode(headers: Mapping[str, str], default: UsageMode) -> UsageMode:
    raw = headers.get(MockHeader.USAGE)
    if raw is None:
        return default
    try:
        return UsageMode(raw.strip().lower())
    except ValueError:
        choices = ", ".join(mode.value for mode in UsageMode)
        raise BehaviourError(f"header {MockHeader.USAGE} must be one of {choices}, got {raw!r}") from None

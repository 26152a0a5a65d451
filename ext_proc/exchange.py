"""What travels on an ext_proc stream, as plain typed values: events in, replies out.

Envoy sends one `ProcessingRequest` per phase of the HTTP request (headers, body, trailers of the
request, then of the response) and waits for exactly one `ProcessingResponse` to each.
`ext_proc.proto.codec` turns the protobuf messages into these values and back, so nothing outside
`ext_proc.proto` touches a protobuf object.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "BodyEvent",
    "Continue",
    "HeaderEdit",
    "HeadersEvent",
    "Immediate",
    "Phase",
    "ProcessingAnswer",
    "ProcessingEvent",
    "Reply",
    "ResponseBodyMode",
    "TrailersEvent",
    "json_reply",
    "request_id_of",
]


class Phase(Enum):
    """The phase a message belongs to; the value is the protobuf oneof field name for both directions."""

    REQUEST_HEADERS = "request_headers"
    REQUEST_BODY = "request_body"
    REQUEST_TRAILERS = "request_trailers"
    RESPONSE_HEADERS = "response_headers"
    RESPONSE_BODY = "response_body"
    RESPONSE_TRAILERS = "response_trailers"


@dataclass(frozen=True, slots=True)
class HeadersEvent:
    """Request or response headers: lower-case names (pseudo-headers included) to values.

    Values are the raw header bytes decoded as latin-1 (lossless); when a name repeats, the last
    value wins.
    """

    phase: Phase
    headers: Mapping[str, str]
    end_of_stream: bool


@dataclass(frozen=True, slots=True)
class BodyEvent:
    """A request or response body: the whole body in BUFFERED mode, a chunk in STREAMED mode."""

    phase: Phase
    body: bytes
    end_of_stream: bool


@dataclass(frozen=True, slots=True)
class TrailersEvent:
    phase: Phase


ProcessingEvent = HeadersEvent | BodyEvent | TrailersEvent


@dataclass(frozen=True, slots=True)
class HeaderEdit:
    """Headers to set (overwriting any existing value) and header names to remove."""

    set_headers: tuple[tuple[str, str], ...] = ()
    remove_headers: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set_headers or self.remove_headers)


class ResponseBodyMode(Enum):
    """How Envoy sends this request's response body to ext_proc (a per-request override).

    There is no BUFFERED: Envoy 1.40 hangs a BUFFERED response whose body passes the buffer limit while
    the response-headers reply is pending (see `ext_proc.response_usage`)."""

    NONE = "NONE"
    """Not at all (errors, or nothing to read)."""
    STREAMED = "STREAMED"
    """Chunk by chunk as Envoy reads it (JSON and SSE); chunks do not align with events."""


@dataclass(frozen=True, slots=True)
class Continue:
    """Let the request go on, optionally editing headers and asking Envoy to pick the route again.

    `body` replaces the body (or, in STREAMED mode, this chunk); a replaced request body needs a
    matching `content-length` in `header_edit`. `response_body_mode` is honoured on the reply to the
    response headers only.
    """

    header_edit: HeaderEdit = HeaderEdit()
    clear_route_cache: bool = False
    body: bytes | None = None
    response_body_mode: ResponseBodyMode | None = None


@dataclass(frozen=True, slots=True)
class Immediate:
    """Answer the client now; Envoy does not contact the upstream. `details` goes to the access log."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    details: str


Reply = Continue | Immediate


@dataclass(frozen=True, slots=True)
class ProcessingAnswer:
    """The reply to one event; `phase` is the phase of the event it answers."""

    phase: Phase
    reply: Reply


def json_reply(status: int, body: bytes, *, request_id: str, details: str) -> Immediate:
    """An immediate JSON response carrying the request id, as every immediate response must."""
    return Immediate(
        status=status,
        body=body,
        headers=(("content-type", "application/json"), ("x-request-id", request_id)),
        details=details,
    )


def request_id_of(headers: Mapping[str, str]) -> str:
    """The request id Envoy assigned (`x-request-id`), or a fresh one if the header is missing."""
    return headers.get("x-request-id") or uuid.uuid4().hex

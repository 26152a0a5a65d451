"""The one request size limit every layer derives its own limits from (Envoy, gRPC, ext_proc)."""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "GRPC_MESSAGE_HEADROOM_BYTES",
    "MAX_REQUEST_BYTES_CEILING",
    "ext_proc_message_limit",
]

DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
"""Request bodies up to this pass (an 8,000,000-byte prompt with large tool definitions fits)."""
GRPC_MESSAGE_HEADROOM_BYTES = 1024 * 1024
"""Added to the body limit for gRPC messages between Envoy and ext_proc: framing, headers, and the bytes
ext_proc adds when it rewrites a body."""
MAX_REQUEST_BYTES_CEILING = 1024 * 1024 * 1024


def ext_proc_message_limit(max_request_bytes: int) -> int:
    """The largest gRPC message either side of the Envoy ↔ ext_proc stream accepts: twice the body limit
    plus headroom. A request body comes whole (≤ the limit), but a STREAMED response chunk is whatever
    Envoy held while ext_proc answered the response headers — up to its buffer limit plus the upstream
    reads already under way (9 MiB + 12 bytes seen with the 8 MiB default) — and ext_proc may send such
    a chunk back (SSE with the usage chunk cut out)."""
    return 2 * max_request_bytes + GRPC_MESSAGE_HEADROOM_BYTES

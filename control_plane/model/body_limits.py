"""The one request size limit every layer derives its own limits from (Envoy, gRPC, ext_proc)."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "GRPC_MESSAGE_HEADROOM_BYTES", "MAX_REQUEST_BYTES_CEILING"]

DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
"""Request bodies up to this pass (an 8,000,000-byte prompt with large tool definitions fits)."""
GRPC_MESSAGE_HEADROOM_BYTES = 1024 * 1024
"""Added to the body limit for gRPC messages between Envoy and ext_proc: framing, headers, and the bytes
ext_proc adds when it rewrites a body."""
MAX_REQUEST_BYTES_CEILING = 1024 * 1024 * 1024

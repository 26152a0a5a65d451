"""The deployment knobs translation needs (everything except the registry itself)."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "EXT_PROC_MESSAGE_HEADROOM_BYTES", "TranslateOptions"]

DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
"""8 MiB (8,388,608 bytes): an 8 MB prompt of tool definitions plus its JSON envelope fits."""
EXT_PROC_MESSAGE_HEADROOM_BYTES = 1024 * 1024
"""Room above the body limit in one ext_proc gRPC message (envelope, header mutations, the few bytes
ext_proc adds to a body it rewrites). ext_proc's own limit uses the same headroom (ExtProcSettings)."""


@dataclass(frozen=True, slots=True)
class TranslateOptions:
    listener_host: str = "127.0.0.1"
    listener_port: int = 8080
    ext_proc_cluster: str = "tollway_ext_proc"
    ext_proc_message_timeout_ms: int = 2000
    max_message_timeout_ms: int = 10_000
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """THE body size limit: the listener's buffer (request bodies buffered for ext_proc and for retries,
    JSON responses buffered for ext_proc) and, plus headroom, the largest ext_proc gRPC message. ext_proc
    gets the same value (TOLLWAY_EXT_PROC_MAX_REQUEST_BYTES) for its side of that gRPC stream."""

    @property
    def ext_proc_max_message_bytes(self) -> int:
        return self.max_request_bytes + EXT_PROC_MESSAGE_HEADROOM_BYTES

    def with_listener_port(self, port: int) -> TranslateOptions:
        return replace(self, listener_port=port)

"""The deployment knobs translation needs (everything except the registry itself)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from control_plane.model import DEFAULT_MAX_REQUEST_BYTES, ext_proc_message_limit

__all__ = ["TranslateOptions"]


@dataclass(frozen=True, slots=True)
class TranslateOptions:
    listener_host: str = "127.0.0.1"
    listener_port: int = 8080
    ext_proc_cluster: str = "tollway_ext_proc"
    ext_proc_message_timeout_ms: int = 2000
    max_message_timeout_ms: int = 10_000
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """THE body size limit: the listener's buffer (request bodies buffered for ext_proc and for retries)
    and, doubled plus headroom, the largest ext_proc gRPC message (`ext_proc_message_limit`). ext_proc
    gets the same value (TOLLWAY_EXT_PROC_MAX_REQUEST_BYTES) for its side of that gRPC stream."""

    @property
    def ext_proc_max_message_bytes(self) -> int:
        return ext_proc_message_limit(self.max_request_bytes)

    def with_listener_port(self, port: int) -> TranslateOptions:
        return replace(self, listener_port=port)

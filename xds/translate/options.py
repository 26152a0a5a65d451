"""The deployment knobs translation needs (everything except the registry itself)."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["TranslateOptions"]


@dataclass(frozen=True, slots=True)
class TranslateOptions:
    listener_host: str = "127.0.0.1"
    listener_port: int = 8080
    ext_proc_cluster: str = "tollway_ext_proc"
    ext_proc_message_timeout_ms: int = 2000
    max_message_timeout_ms: int = 10_000
    max_request_bytes: int = 8 * 1024 * 1024

    def with_listener_port(self, port: int) -> TranslateOptions:
        return replace(self, listener_port=port)

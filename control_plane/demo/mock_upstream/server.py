"""Serving the mock with uvicorn: `build_server` for tests that own a thread or loop, `run` for processes."""

from __future__ import annotations

import logging

import uvicorn

from control_plane.demo.mock_upstream.app import StreamCutError, create_app
from control_plane.demo.mock_upstream.settings import MockUpstreamSettings

__all__ = ["StreamCutLogFilter", "build_server", "run"]

_GRACEFUL_SHUTDOWN_S = 1


class StreamCutLogFilter(logging.Filter):
    """Drops uvicorn's 'Exception in ASGI application' record when the exception is an intended cut."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        while error is not None:
            if isinstance(error, StreamCutError):
                return False
            error = error.__cause__ or error.__context__
        return True


def build_server(settings: MockUpstreamSettings) -> uvicorn.Server:
    """A uvicorn server (uvloop, h11 unless httptools is installed) for a fresh app built from `settings`;
    HTTPS when `settings` name a certificate and key."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        server_header=False,
        ssl_certfile=settings.ssl_certfile,
        ssl_keyfile=settings.ssl_keyfile,
    )
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, StreamCutLogFilter) for existing in uvicorn_errors.filters):
        uvicorn_errors.addFilter(StreamCutLogFilter())
    return uvicorn.Server(config)


def run(settings: MockUpstreamSettings) -> None:
    """Serve until SIGINT or SIGTERM."""
    build_server(settings).run()

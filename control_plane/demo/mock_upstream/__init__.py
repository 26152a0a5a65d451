"""A mock OpenAI-compatible upstream with deterministic replies and per-request failure injection.

Run one with `python -m control_plane.demo.mock_upstream --port 9000 --name demo-a`; select behaviours per
request with the `MockHeader` headers; read what reached it at `GET /mock/stats`.
"""

from control_plane.demo.mock_upstream.app import MockStats, MockUpstream, StreamCutError, create_app
from control_plane.demo.mock_upstream.behaviour import BACKEND_HEADER, Behaviour, BehaviourError, MockHeader
from control_plane.demo.mock_upstream.server import build_server, run
from control_plane.demo.mock_upstream.settings import MockUpstreamSettings

__all__ = [
    "BACKEND_HEADER",
    "Behaviour",
    "BehaviourError",
    "MockHeader",
    "MockStats",
    "MockUpstream",
    "MockUpstreamSettings",
    "StreamCutError",
    "build_server",
    "create_app",
    "run",
]

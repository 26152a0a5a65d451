"""A mock OpenAI-compatible upstream with deterministic replies and per-request failure injection.

Run one with `python -m control_plane.demo.mock_upstream --port 9000 --name demo-a`; select behaviours per
request with the `MockHeader` headers, or for the whole server with `PUT /mock/behaviour`; read what reached
it, and the usage it reported, at `GET /mock/stats`.
"""

from control_plane.demo.mock_upstream.app import MockUpstream, StreamCutError, create_app
from control_plane.demo.mock_upstream.behaviour import BACKEND_HEADER, Behaviour, BehaviourError, MockHeader
from control_plane.demo.mock_upstream.reply import UsageMode
from control_plane.demo.mock_upstream.server import build_server, run
from control_plane.demo.mock_upstream.settings import BEHAVIOUR_FIELDS, MockUpstreamSettings
from control_plane.demo.mock_upstream.stats import Arrival, GenerationRecord, MockStats, Outcome

__all__ = [
    "BACKEND_HEADER",
    "BEHAVIOUR_FIELDS",
    "Arrival",
    "Behaviour",
    "BehaviourError",
    "GenerationRecord",
    "MockHeader",
    "MockStats",
    "MockUpstream",
    "MockUpstreamSettings",
    "Outcome",
    "StreamCutError",
    "UsageMode",
    "build_server",
    "create_app",
    "run",
]

"""`tests.support.mock_fleet.MockFleet`: real mock processes, killed and restarted on the same port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from control_plane.demo.mock_upstream import BACKEND_HEADER
from tests.support.mock_fleet import MockFleet, MockFleetError

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[MockFleet]:
    with MockFleet(tmp_path) as fleet:
        yield fleet


def _chat(fleet: MockFleet, name: str, request_id: str) -> httpx.Response:
    url = f"{fleet.url(name)}/chat/completions"
    return httpx.post(url, json=BODY, headers={"x-request-id": request_id}, timeout=2)


def test_start_stop_and_start_again_on_the_same_port(fleet: MockFleet, tmp_path: Path) -> None:
    fleet.start("a", "b")
    port = fleet.port("a")
    assert fleet.url("a") == f"http://127.0.0.1:{port}/v1"
    assert fleet.port("b") != port
    assert fleet.names == ["a", "b"]
    first = _chat(fleet, "a", "one")
    assert (first.status_code, first.headers[BACKEND_HEADER]) == (200, "a")

    fleet.stop("a")
    assert not fleet.is_running("a")
    with pytest.raises(httpx.ConnectError):
        _chat(fleet, "a", "refused")
    assert _chat(fleet, "b", "still-up").status_code == 200

    fleet.start("a")
    assert fleet.port("a") == port
    again = _chat(fleet, "a", "two")
    assert (again.status_code, again.headers[BACKEND_HEADER]) == (200, "a")
    assert [(entry["request_id"], entry["status"]) for entry in fleet.stats("a")["arrivals"]] == [
        ("two", 200)
    ]
    assert (tmp_path / "a.log").exists()
    with pytest.raises(MockFleetError, match="already running"):
        fleet.start("a")


def test_behaviour_stats_and_reset(fleet: MockFleet) -> None:
    fleet.start("a")

    shown = fleet.set_behaviour("a", fail_status=429, retry_after_s=2, fail_times=1)
    assert (shown["overridden"], shown["fail_status"], shown["retry_after_s"]) == (True, 429, 2)
    assert fleet.behaviour("a") == shown
    failed = _chat(fleet, "a", "r")
    assert (failed.status_code, failed.headers["retry-after"]) == (429, "2")
    assert _chat(fleet, "a", "r").status_code == 200
    stats = fleet.stats("a")
    assert [(entry["request_id"], entry["status"]) for entry in stats["arrivals"]] == [("r", 429), ("r", 200)]
    assert stats["failures_injected"] == 1

    assert fleet.reset("a")["arrivals"] == []
    assert fleet.behaviour("a")["overridden"] is True
    assert fleet.clear_behaviour("a")["fail_status"] is None
    with pytest.raises(httpx.HTTPStatusError):
        fleet.set_behaviour("a", port=1)
    with pytest.raises(MockFleetError, match="no mock named 'z'"):
        fleet.url("z")


def test_close_stops_every_mock(tmp_path: Path) -> None:
    with MockFleet(tmp_path) as fleet:
        fleet.start("a")
        url = fleet.url("a")
    assert not fleet.is_running("a")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models", timeout=1)

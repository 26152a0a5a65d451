"""Registry changes reach Envoy and ext_proc without restarts, and unaffected traffic never notices."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from control_plane.admin_client import AdminClient
from control_plane.launcher import StackInfo
from control_plane.model import Backend, Model
from tests.support.load import Load

pytestmark = pytest.mark.integration


def _status(info: StackInfo, model: str, auth: dict[str, str]) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    try:
        return httpx.post(
            f"{info.listener_url}/chat/completions", json=body, headers=auth, timeout=5.0
        ).status_code
    except httpx.HTTPError:
        return 0


def _seconds_until(predicate: Callable[[], bool], limit_s: float = 10.0) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > limit_s:
            return float("inf")
        time.sleep(0.01)
    return time.monotonic() - start


def test_add_model_under_load_serves_within_a_second_with_zero_errors(
    info: StackInfo, auth: dict[str, str], admin: AdminClient, mock_upstream: Callable[[str], str]
) -> None:
    url = mock_upstream("fresh-upstream")
    model = Model(name="fresh", aliases=("fresh-alias",), backends=(Backend(name="fresh", base_url=url),))
    with Load(info.listener_url, "demo", rate=60.0, headers=auth) as load:
        time.sleep(1.0)
        admin.put_model(model)
        elapsed = _seconds_until(lambda: _status(info, "fresh", auth) == 200)
        alias_ok = _status(info, "fresh-alias", auth) == 200
        time.sleep(1.0)
    assert elapsed < 1.0, f"new model took {elapsed:.3f}s to serve"
    assert alias_ok
    assert len(load.statuses) >= 100, f"load too thin: {len(load.statuses)} requests"
    assert load.errors == [], f"existing traffic saw errors: {load.errors[:5]}"
    served_by = httpx.post(
        f"{info.listener_url}/chat/completions",
        json={"model": "fresh", "messages": [{"role": "user", "content": "who?"}]},
        headers=auth,
    ).headers["x-mock-backend"]
    assert served_by == "fresh-upstream"


def test_removed_model_returns_404_and_others_keep_serving(
    info: StackInfo, auth: dict[str, str], admin: AdminClient, mock_upstream: Callable[[str], str]
) -> None:
    url = mock_upstream("doomed-upstream")
    admin.put_model(Model(name="doomed", backends=(Backend(name="doomed", base_url=url),)))
    assert _seconds_until(lambda: _status(info, "doomed", auth) == 200) < 2.0
    with Load(info.listener_url, "demo", rate=60.0, headers=auth) as load:
        admin.remove_model("doomed")
        elapsed = _seconds_until(lambda: _status(info, "doomed", auth) == 404)
        time.sleep(0.5)
    assert elapsed < 1.0
    assert load.errors == []

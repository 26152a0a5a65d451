"""NACKs are visible and harmless; xds and Envoy restarts resync to the current registry."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from control_plane.admin_client import AdminClient
from control_plane.cli.main import app
from control_plane.launcher import Stack, StackInfo
from control_plane.model import Backend, Model
from tests.support.load import Load

pytestmark = pytest.mark.integration

TYPES = ("cds", "eds", "lds", "rds")


def _ok(info: StackInfo, model: str) -> bool:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    try:
        return httpx.post(f"{info.listener_url}/chat/completions", json=body, timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(predicate: Callable[[], Any], limit_s: float = 15.0) -> Any:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def _node(admin: AdminClient) -> dict[str, Any]:
    nodes = [n for n in admin.status()["envoy_nodes"] if n["connected"]]
    assert len(nodes) == 1, nodes
    node: dict[str, Any] = nodes[0]
    return node


def _in_sync(admin: AdminClient) -> bool:
    node = _node(admin)
    resources = node["resources"]
    return all(
        t in resources and resources[t]["acked_version"] == resources[t]["sent_version"] for t in TYPES
    )


def test_rejected_cluster_is_nacked_visible_and_last_good_keeps_serving(
    info: StackInfo, admin: AdminClient, mock_upstream: Callable[[str], str]
) -> None:
    # Valid for the registry, but Envoy cannot load the CA file on its host: CDS is rejected.
    bad = Model(
        name="needs-missing-ca",
        backends=(Backend(name="tls", base_url="https://127.0.0.1:9/v1", ca_file="/nonexistent/ca.pem"),),
    )
    with Load(info.listener_url, "demo", rate=40.0) as load:
        time.sleep(0.5)
        admin.put_model(bad)
        nack = _wait(lambda: _node(admin)["resources"].get("cds", {}).get("last_nack"))
        time.sleep(1.0)
    assert nack, "the NACK never showed in the status"
    assert "nonexistent" in nack["message"] or "ca.pem" in nack["message"], nack
    assert load.errors == []
    assert len(load.statuses) > 40

    # The CLI shows it too.
    result = CliRunner().invoke(
        app, ["status", "--json", "--admin-url", info.admin_url, "--token", info.admin_token]
    )
    assert result.exit_code == 0
    assert "nonexistent" in result.output

    # Fixing the registry clears the way: the next version is ACKed everywhere.
    admin.remove_model("needs-missing-ca")
    assert _wait(lambda: _in_sync(admin)), admin.status()
    assert _ok(info, "demo")


def test_xds_restart_keeps_envoy_serving_then_resyncs(
    stack: Stack, info: StackInfo, admin: AdminClient, mock_upstream: Callable[[str], str]
) -> None:
    assert _wait(lambda: _in_sync(admin))
    with Load(info.listener_url, "demo", rate=40.0) as load:
        stack.processes["xds"].stop()
        time.sleep(1.5)  # Envoy runs on its last config while the control plane is gone
        during = len(load.statuses)
        url = mock_upstream("after-xds-restart")
        admin.put_model(Model(name="after-xds", backends=(Backend(name="a", base_url=url),)))
        stack.restart("xds")
        served = _wait(lambda: _ok(info, "after-xds"), limit_s=20.0)
    assert during > 20
    assert load.errors == [], load.errors[:5]
    assert served, "a model written while xds was down was not served after it came back"
    assert _wait(lambda: _in_sync(admin))


def test_envoy_restart_gets_the_current_config(
    stack: Stack, info: StackInfo, admin: AdminClient, mock_upstream: Callable[[str], str]
) -> None:
    url = mock_upstream("before-envoy-restart")
    admin.put_model(Model(name="before-envoy", backends=(Backend(name="b", base_url=url),)))
    assert _wait(lambda: _ok(info, "before-envoy"))
    stack.restart("envoy")
    assert _wait(lambda: _ok(info, "before-envoy"))
    assert _ok(info, "demo")
    assert _wait(lambda: _in_sync(admin))

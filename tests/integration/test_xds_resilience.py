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


def _ok(info: StackInfo, model: str, auth: dict[str, str]) -> bool:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    try:
        return (
            httpx.post(
                f"{info.listener_url}/chat/completions", json=body, headers=auth, timeout=5.0
            ).status_code
            == 200
        )
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


def _nodes(admin: AdminClient) -> list[dict[str, Any]]:
    """The connected Envoys (the test stack runs two)."""
    nodes: list[dict[str, Any]] = [n for n in admin.status()["envoy_nodes"] if n["connected"]]
    return nodes


def _nacks(admin: AdminClient) -> list[Any]:
    """Each Envoy's last CDS NACK, once every Envoy has one (else an empty list)."""
    nacks = [node["resources"].get("cds", {}).get("last_nack") for node in _nodes(admin)]
    return nacks if len(nacks) == 2 and all(nacks) else []


def _in_sync(admin: AdminClient) -> bool:
    nodes = _nodes(admin)
    return len(nodes) == 2 and all(
        t in node["resources"]
        and node["resources"][t]["acked_version"] == node["resources"][t]["sent_version"]
        for node in nodes
        for t in TYPES
    )


def test_rejected_cluster_is_nacked_visible_and_last_good_keeps_serving(
    info: StackInfo, auth: dict[str, str], admin: AdminClient, mock_upstream: Callable[[str], str]
) -> None:
    # Valid for the registry, but Envoy cannot load the CA file on its host: CDS is rejected.
    bad = Model(
        name="needs-missing-ca",
        backends=(Backend(name="tls", base_url="https://127.0.0.1:9/v1", ca_file="/nonexistent/ca.pem"),),
    )
    with Load(info.listener_url, "demo", rate=40.0, headers=auth) as load:
        time.sleep(0.5)
        admin.put_model(bad)
        nacks = _wait(lambda: _nacks(admin))
        time.sleep(1.0)
    assert nacks, "the NACK never showed in the status of both Envoys"
    for nack in nacks:
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
    assert _ok(info, "demo", auth)


def test_xds_restart_keeps_envoy_serving_then_resyncs(
    stack: Stack,
    info: StackInfo,
    auth: dict[str, str],
    admin: AdminClient,
    mock_upstream: Callable[[str], str],
) -> None:
    assert _wait(lambda: _in_sync(admin))
    with Load(info.listener_url, "demo", rate=40.0, headers=auth) as load:
        stack.processes["xds"].stop()
        time.sleep(1.5)  # Envoy runs on its last config while the control plane is gone
        during = len(load.statuses)
        url = mock_upstream("after-xds-restart")
        admin.put_model(Model(name="after-xds", backends=(Backend(name="a", base_url=url),)))
        stack.restart("xds")
        served = _wait(lambda: _ok(info, "after-xds", auth), limit_s=20.0)
    assert during > 20
    assert load.errors == [], load.errors[:5]
    assert served, "a model written while xds was down was not served after it came back"
    assert _wait(lambda: _in_sync(admin))


def test_envoy_restart_gets_the_current_config(
    stack: Stack,
    info: StackInfo,
    auth: dict[str, str],
    admin: AdminClient,
    mock_upstream: Callable[[str], str],
) -> None:
    url = mock_upstream("before-envoy-restart")
    admin.put_model(Model(name="before-envoy", backends=(Backend(name="b", base_url=url),)))
    assert _wait(lambda: _ok(info, "before-envoy", auth))
    stack.restart("envoy")
    assert _wait(lambda: _ok(info, "before-envoy", auth))
    assert _ok(info, "demo", auth)
    assert _wait(lambda: _in_sync(admin))

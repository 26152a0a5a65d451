"""The rendered Envoy bootstrap advertises the node's admin URL in its metadata, and Envoy accepts it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from control_plane.launcher.envoy import render_bootstrap

ENVOY = shutil.which("envoy") or str(Path(sys.executable).parent / "envoy")


def render(**kwargs: object) -> str:
    args: dict[str, object] = {
        "node_id": "envoy-8080", "admin_port": 9901, "listener_port": 8080, "xds_port": 18000,
        "ext_proc_ports": [50051],
    }  # fmt: skip
    return render_bootstrap(**{**args, **kwargs})  # type: ignore[arg-type]


def test_admin_url_defaults_to_the_bound_admin_address() -> None:
    config = yaml.safe_load(render())
    assert config["node"]["metadata"] == {
        "tollway.listener_port": 8080,
        "tollway.admin_url": "http://127.0.0.1:9901",
    }
    assert config["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9901}


def test_admin_bind_host_and_advertised_url_are_configurable() -> None:
    config = yaml.safe_load(render(admin_host="0.0.0.0", admin_url="http://envoy-1.tollway:9901"))
    assert config["node"]["metadata"]["tollway.admin_url"] == "http://envoy-1.tollway:9901"
    assert config["admin"]["address"]["socket_address"]["address"] == "0.0.0.0"


@pytest.mark.skipif(not Path(ENVOY).exists(), reason="no envoy binary")
def test_envoy_accepts_the_bootstrap(tmp_path: Path) -> None:
    path = tmp_path / "bootstrap.yaml"
    path.write_text(render(admin_url="http://envoy-1.tollway:9901"))
    result = subprocess.run(
        [ENVOY, "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

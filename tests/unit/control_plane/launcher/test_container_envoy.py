"""The bootstrap baked into the Envoy image: DNS clusters for the compose services, admin on every
interface, and Envoy accepts it with the per-container overrides of envoy-entrypoint.sh."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from control_plane.launcher.container_envoy import CONTAINER_PORTS, container_bootstrap
from control_plane.launcher.envoy import render_bootstrap

ENVOY = shutil.which("envoy") or str(Path(sys.executable).parent / "envoy")


def _clusters(text: str) -> dict[str, dict[str, object]]:
    return {c["name"]: c for c in yaml.safe_load(text)["static_resources"]["clusters"]}


def test_host_names_make_strict_dns_clusters_that_reach_every_replica() -> None:
    clusters = _clusters(container_bootstrap())
    assert {name: c["type"] for name, c in clusters.items()} == {
        "tollway_xds": "STRICT_DNS",
        "tollway_ext_proc": "STRICT_DNS",
    }
    assert clusters["tollway_ext_proc"]["dns_refresh_rate"] == "1s"
    (endpoint,) = clusters["tollway_ext_proc"]["load_assignment"]["endpoints"][0]["lb_endpoints"]  # type: ignore[index]
    assert endpoint["endpoint"]["address"]["socket_address"] == {"address": "ext-proc", "port_value": 50051}
    config = yaml.safe_load(container_bootstrap())
    assert config["admin"]["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 9901}
    assert config["node"]["metadata"]["tollway.listener_port"] == CONTAINER_PORTS["listener"]


def test_ip_addresses_keep_static_clusters() -> None:
    text = render_bootstrap(node_id="n", admin_port=1, listener_port=2, xds_port=3, ext_proc_ports=[4, 5])
    assert {c["type"] for c in _clusters(text).values()} == {"STATIC"}


def test_envoy_accepts_the_container_bootstrap_with_the_entrypoint_overrides(tmp_path: Path) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text(container_bootstrap())
    result = subprocess.run(
        [ENVOY, "--mode", "validate", "-c", str(path), "--service-node", "abc123",
         "--config-yaml", '{node: {metadata: {tollway.admin_url: "http://abc123:9901"}}}',
         "--log-level", "error"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

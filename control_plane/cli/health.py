"""`tollway status`'s backend health tables, from the admin API's `/admin/v1/status/backends` answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from control_plane.cli.output import print_table

__all__ = ["CLUSTER_HEADERS", "HOST_HEADERS", "cluster_rows", "host_rows", "print_backend_health"]

HOST_HEADERS = (
    "NODE", "MODEL", "BACKEND", "ADDRESS", "PRIO", "WEIGHT", "STATE", "FLAGS", "ACTIVE", "REQS", "ERRORS",
    "CONN FAIL",
)  # fmt: skip
CLUSTER_HEADERS = ("NODE", "MODEL", "5XX", "RETRIES", "EJECTED NOW", "EJECTIONS")


def _count(value: object) -> str:
    return "-" if value is None else str(value)


def _host_row(
    node: Mapping[str, Any], cluster: Mapping[str, Any], host: Mapping[str, Any]
) -> tuple[object, ...]:
    flags = ",".join(host["flags"]) or "-"
    return (
        node["node_id"], cluster["model"], host["backend"] or "?", host["address"], host["priority"],
        host["weight"], host["state"], flags, host["rq_active"], host["rq_total"], host["rq_error"],
        host["cx_connect_fail"],
    )  # fmt: skip


def host_rows(result: Mapping[str, Any]) -> list[tuple[object, ...]]:
    """One row per host of every model cluster on every reachable node."""
    return [
        _host_row(node, cluster, host)
        for node in result["nodes"]
        for cluster in node["clusters"]
        for host in cluster["hosts"]
    ]


def _cluster_row(node: Mapping[str, Any], cluster: Mapping[str, Any]) -> tuple[object, ...]:
    counters = ("upstream_rq_5xx", "upstream_rq_retry", "ejections_active", "ejections_enforced_total")
    return (node["node_id"], cluster["model"], *(_count(cluster[name]) for name in counters))


def cluster_rows(result: Mapping[str, Any]) -> list[tuple[object, ...]]:
    """One row per model cluster: 5xx, retries, hosts ejected now, ejections since start (- = unknown)."""
    return [_cluster_row(node, cluster) for node in result["nodes"] for cluster in node["clusters"]]


def print_backend_health(result: Mapping[str, Any]) -> None:
    typer.echo("")
    if not result["nodes"]:
        typer.echo("backends: no Envoy node is connected")
        return
    print_table(HOST_HEADERS, host_rows(result))
    typer.echo("")
    print_table(CLUSTER_HEADERS, cluster_rows(result))
    for node in result["nodes"]:
        if not node["reachable"]:
            where = f" at {node['admin_url']}" if node["admin_url"] else ""
            typer.echo(f"{node['node_id']}: admin API unreachable{where}: {node['error']}")

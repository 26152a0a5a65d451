"""Reads one Envoy's admin API for integration tests: counters of a cluster and its hosts' health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["EnvoyProbe", "HostView"]


@dataclass(frozen=True)
class HostView:
    address: str
    port: int
    health_flags: tuple[str, ...]
    """Envoy's `health_status` flags that are set, e.g. `failed_outlier_check`; empty when healthy."""
    priority: int

    @property
    def healthy(self) -> bool:
        return not self.health_flags


class EnvoyProbe:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url.rstrip("/")

    def counters(self, cluster: str) -> dict[str, int]:
        """Every counter and gauge of `cluster` (`cluster.<name>.` prefix removed)."""
        prefix = f"cluster.{cluster}."
        response = httpx.get(f"{self.admin_url}/stats", params={"format": "json"}, timeout=5.0)
        response.raise_for_status()
        stats: list[dict[str, Any]] = response.json()["stats"]
        return {
            entry["name"].removeprefix(prefix): int(entry["value"])
            for entry in stats
            if entry.get("name", "").startswith(prefix) and isinstance(entry.get("value"), int)
        }

    def counter(self, cluster: str, name: str) -> int:
        return self.counters(cluster).get(name, 0)

    def hosts(self, cluster: str) -> list[HostView]:
        response = httpx.get(f"{self.admin_url}/clusters", params={"format": "json"}, timeout=5.0)
        response.raise_for_status()
        for status in response.json().get("cluster_statuses", []):
            if status.get("name") != cluster:
                continue
            views = []
            for host in status.get("host_statuses", []):
                socket = host["address"]["socket_address"]
                flags = tuple(
                    sorted(
                        name
                        for name, value in host.get("health_status", {}).items()
                        if value is True and name != "eds_health_status"
                    )
                )
                views.append(
                    HostView(
                        socket["address"], int(socket["port_value"]), flags, int(host.get("priority", 0))
                    )
                )
            return views
        return []

    def requests_per_host(self, cluster: str) -> dict[str, int]:
        """Each host's `rq_total` (requests or gRPC streams it was sent), by `address:port`."""
        response = httpx.get(f"{self.admin_url}/clusters", params={"format": "json"}, timeout=5.0)
        response.raise_for_status()
        for status in response.json().get("cluster_statuses", []):
            if status.get("name") != cluster:
                continue
            counts = {}
            for host in status.get("host_statuses", []):
                socket = host["address"]["socket_address"]
                stats = {s.get("name"): int(s.get("value", 0)) for s in host.get("stats", [])}
                counts[f"{socket['address']}:{socket['port_value']}"] = stats.get("rq_total", 0)
            return counts
        return {}

    def host(self, cluster: str, port: int) -> HostView | None:
        return next((h for h in self.hosts(cluster) if h.port == port), None)

"""Reads model backend health from Envoy admin APIs: `/clusters?format=json` and `/stats?format=json`.

Envoy 1.40 answers `/clusters?format=json` with proto field names (snake_case), leaves out zero values
and false booleans, and writes counters as strings, e.g. (trimmed):

    {"cluster_statuses": [{"name": "model.llama", "observability_name": "model.llama", "host_statuses": [
      {"address": {"socket_address": {"address": "10.0.0.5", "port_value": 8000}}, "hostname": "gpu-a",
       "priority": 1, "weight": 2,
       "stats": [{"name": "cx_connect_fail", "value": "5"}, {"type": "GAUGE", "name": "rq_active"}, …],
       "health_status": {"failed_outlier_check": true, "eds_health_status": "HEALTHY"}}]}]}

Host metadata (`{"tollway": {"backend": …}}`) is not in that dump, so hosts are matched back to registry
backends by (hostname, port) — xds sets the endpoint hostname to the backend's host — then by address.
Everything is parsed defensively: a field of an unexpected shape reads as absent, never as an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from control_plane.model import (
    MODEL_CLUSTER_PREFIX,
    ClusterHealth,
    HostHealth,
    NodeHealth,
    NodeStatus,
    Snapshot,
    host_state,
)

__all__ = [
    "CLUSTER_STAT_SUFFIXES",
    "DEFAULT_TIMEOUT_S",
    "BackendIndex",
    "EnvoyAdminClient",
    "backend_index",
    "parse_cluster_stats",
    "parse_clusters",
]

DEFAULT_TIMEOUT_S = 1.5
# Cluster counters worth a column; `outlier_detection.*` exist only on clusters with outlier detection.
CLUSTER_STAT_SUFFIXES = (
    "upstream_rq_5xx",
    "upstream_rq_retry",
    "outlier_detection.ejections_active",
    "outlier_detection.ejections_enforced_total",
)
_STATS_FILTER = (
    r"^cluster\.model\..*\.(" + "|".join(s.replace(".", r"\.") for s in CLUSTER_STAT_SUFFIXES) + ")$"
)
_HOST_COUNTERS = (
    "rq_active", "rq_total", "rq_success", "rq_error", "rq_timeout",
    "cx_active", "cx_total", "cx_connect_fail",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class BackendIndex:
    """Registry backend names by model, keyed by (host or IP, port) as Envoy reports them."""

    by_model: Mapping[str, Mapping[tuple[str, int], str]]

    def backend(self, model: str, hostname: str, address: str, port: int) -> str:
        names = self.by_model.get(model, {})
        return names.get((hostname, port)) or names.get((address, port)) or ""


def backend_index(snapshot: Snapshot) -> BackendIndex:
    by_model: dict[str, dict[tuple[str, int], str]] = {}
    for model in snapshot.models:
        names = by_model.setdefault(model.name, {})
        for backend in model.backends:
            names.setdefault((backend.host, backend.port), backend.name)
            if backend.host == "localhost":  # xds connects to 127.0.0.1 for it
                names.setdefault(("127.0.0.1", backend.port), backend.name)
    return BackendIndex(by_model)


# ---- parsing ------------------------------------------------------------------------------------------


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: object, default: int = 0) -> int:
    """Envoy writes uint64 as strings and leaves out zeros."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return default
    return default


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _host(raw: dict[str, Any], model: str, index: BackendIndex) -> HostHealth:
    socket = _dict(_dict(raw.get("address")).get("socket_address"))
    address, port = _str(socket.get("address")), _int(socket.get("port_value"))
    hostname = _str(raw.get("hostname"))
    status = _dict(raw.get("health_status"))
    flags = tuple(sorted(name for name, value in status.items() if value is True))
    eds = _str(status.get("eds_health_status"))
    counters = {_str(s.get("name")): _int(s.get("value")) for s in map(_dict, _list(raw.get("stats")))}
    success_rate = _dict(raw.get("success_rate")).get("value")
    return HostHealth(
        backend=index.backend(model, hostname, address, port),
        address=f"{address}:{port}",
        hostname=hostname,
        priority=_int(raw.get("priority")),
        weight=_int(raw.get("weight"), default=1),
        state=host_state(flags, eds),
        flags=flags,
        eds_health_status=eds,
        success_rate=float(success_rate) if isinstance(success_rate, int | float) else None,
        **{name: counters.get(name, 0) for name in _HOST_COUNTERS},
    )


def parse_clusters(document: object, index: BackendIndex) -> tuple[ClusterHealth, ...]:
    """The model clusters in a `/clusters?format=json` answer, sorted by model; other clusters skipped."""
    clusters = []
    for raw in map(_dict, _list(_dict(document).get("cluster_statuses"))):
        name = _str(raw.get("name"))
        if not name.startswith(MODEL_CLUSTER_PREFIX) or name == MODEL_CLUSTER_PREFIX:
            continue
        model = name.removeprefix(MODEL_CLUSTER_PREFIX)
        hosts = [_host(h, model, index) for h in map(_dict, _list(raw.get("host_statuses")))]
        hosts.sort(key=lambda h: (h.priority, h.backend, h.address))
        clusters.append(ClusterHealth(model=model, cluster=name, hosts=tuple(hosts)))
    return tuple(sorted(clusters, key=lambda c: c.model))


def _stat_name(cluster: str) -> str:
    """Envoy replaces `:` in stat names (seen: `model.org/m:1` → `cluster.model.org/m_1.…`)."""
    return cluster.replace(":", "_")


def parse_cluster_stats(document: object, clusters: Iterable[str]) -> dict[str, dict[str, int]]:
    """Counters per cluster name from a `/stats?format=json` answer; a counter Envoy has not created is 0."""
    by_stat_name = {_stat_name(c): c for c in clusters}
    found: dict[str, dict[str, int]] = {
        c: dict.fromkeys(CLUSTER_STAT_SUFFIXES, 0) for c in by_stat_name.values()
    }
    for stat in map(_dict, _list(_dict(document).get("stats"))):
        name = _str(stat.get("name"))
        if not name.startswith("cluster."):
            continue
        for suffix in CLUSTER_STAT_SUFFIXES:
            head = name[len("cluster.") : -len(suffix) - 1]
            if name.endswith(f".{suffix}") and head in by_stat_name:
                found[by_stat_name[head]][suffix] = _int(stat.get("value"))
    return found


def _with_stats(cluster: ClusterHealth, counters: Mapping[str, int] | None) -> ClusterHealth:
    if counters is None:
        return cluster
    return cluster.model_copy(
        update={
            "upstream_rq_5xx": counters["upstream_rq_5xx"],
            "upstream_rq_retry": counters["upstream_rq_retry"],
            "ejections_active": counters["outlier_detection.ejections_active"],
            "ejections_enforced_total": counters["outlier_detection.ejections_enforced_total"],
        }
    )


# ---- fetching -----------------------------------------------------------------------------------------


def _error_text(exc: Exception) -> str:
    """Short, operator-facing; never a traceback."""
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or unreachable"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"admin API answered {exc.response.status_code}"
    if isinstance(exc, ValueError):
        return "admin API answered something that is not JSON"
    return type(exc).__name__


class EnvoyAdminClient:
    """Fetches backend health from Envoy admin APIs, every node at once, each within `timeout_s`.

    An unreachable or slow node comes back as `NodeHealth(reachable=False, error=…)`, never raises.
    `transport` is the seam for tests (`httpx.MockTransport`).
    """

    def __init__(
        self, *, timeout_s: float = DEFAULT_TIMEOUT_S, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.timeout_s = timeout_s
        self._transport = transport

    async def node_health(self, admin_url: str, snapshot: Snapshot, *, node_id: str = "") -> NodeHealth:
        async with self._client() as client:
            return await self._node_health(client, node_id, admin_url, backend_index(snapshot))

    async def nodes_health(self, nodes: Sequence[NodeStatus], snapshot: Snapshot) -> list[NodeHealth]:
        """Health from every connected node (sorted by node id); nodes without an admin URL say so."""
        index = backend_index(snapshot)
        connected = sorted((n for n in nodes if n.connected), key=lambda n: n.node_id)
        async with self._client() as client:
            return list(
                await asyncio.gather(
                    *(self._node_health(client, n.node_id, n.admin_url, index) for n in connected)
                )
            )

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout_s, transport=self._transport, trust_env=False)

    async def _node_health(
        self, client: httpx.AsyncClient, node_id: str, admin_url: str, index: BackendIndex
    ) -> NodeHealth:
        if not admin_url:
            return NodeHealth(node_id=node_id, reachable=False, error="the node advertises no admin URL")
        base = admin_url.rstrip("/")
        try:
            async with asyncio.timeout(self.timeout_s):
                clusters_doc, stats = await asyncio.gather(
                    self._get_json(client, f"{base}/clusters", {"format": "json"}),
                    self._get_stats(client, base),
                )
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            return NodeHealth(node_id=node_id, admin_url=base, reachable=False, error=_error_text(exc))
        clusters = parse_clusters(clusters_doc, index)
        counters = parse_cluster_stats(stats, (c.cluster for c in clusters)) if stats is not None else {}
        return NodeHealth(
            node_id=node_id,
            admin_url=base,
            reachable=True,
            clusters=tuple(_with_stats(c, counters.get(c.cluster)) for c in clusters),
        )

    async def _get_stats(self, client: httpx.AsyncClient, base: str) -> object | None:
        """Cluster counters are a bonus: when they cannot be read, the hosts are still shown."""
        try:
            return await self._get_json(client, f"{base}/stats", {"format": "json", "filter": _STATS_FILTER})
        except (httpx.HTTPError, ValueError):
            return None

    @staticmethod
    async def _get_json(client: httpx.AsyncClient, url: str, params: Mapping[str, str]) -> object:
        response = await client.get(url, params=params)
        response.raise_for_status()
        document: object = response.json()
        return document

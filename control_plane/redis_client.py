"""The one way Tollway processes open a Redis/Valkey client: with timeouts, so a half-open connection
can never hang a feed, a status write or an admin request.

URLs:
- `redis://host:port/db`, `rediss://…`, `unix://…`: one server (a `redis.asyncio.Redis` over a
  blocking connection pool).
- `redis+cluster://host:port[,host:port…]` (`rediss+cluster://` for TLS): a Redis/Valkey Cluster,
  given by one or more of its nodes (the rest are discovered); a `redis.asyncio.RedisCluster` with the
  same timeouts. User, password and query options are those of `redis://` URLs and apply to every
  node; a cluster has only database 0, so a path other than `/` or `/0` is refused.

Every key carries a hash tag (`control_plane.keys`), so each Lua script and MULTI touches one slot.
A cluster that cannot be reached raises `ClusterUnavailableError`, a Redis `ConnectionError` like a
single server's, so every `except RedisError` keeps its failure behaviour (redis-py raises
`RedisClusterException`, which is not a `RedisError`). Three more things differ on a cluster and are
wrapped here: a cluster pipeline refuses EVALSHA (`queue_script`
queues EVAL instead) and PUBLISH (publish outside pipelines, or from a Lua script); a cluster pub/sub
needs the slot map before it subscribes (`open_pubsub`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline, PubSub
from redis.asyncio.cluster import ClusterNode, ClusterPipeline
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, SlotNotCoveredError
from redis.typing import EncodableT, KeyT

__all__ = [
    "CLUSTER_SCHEMES",
    "ClusterUnavailableError",
    "ClusterUrl",
    "RedisClient",
    "RedisPipeline",
    "connect",
    "is_cluster_url",
    "open_pubsub",
    "parse_cluster_url",
    "queue_script",
]

CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0
HEALTH_CHECK_INTERVAL_S = 15
MAX_CONNECTIONS = 256
POOL_WAIT_S = 2.0

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""Cluster URL scheme → the scheme of the per-node URL it stands for."""

RedisClient: TypeAlias = aioredis.Redis | aioredis.RedisCluster
"""What `connect` returns: a single-server client or a cluster client (same command methods)."""
RedisPipeline: TypeAlias = Pipeline | ClusterPipeline


@dataclass(frozen=True, slots=True)
class ClusterUrl:
    nodes: tuple[tuple[str, int], ...]
    """The startup nodes (host, port), in the URL's order."""
    node_urls: tuple[str, ...]
    """A `redis://` (or `rediss://`) URL per node with the URL's credentials and options: what
    redis-py parses for the per-node connection settings (and what a probe of one node opens)."""


def is_cluster_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterUrl:
    """Split `redis+cluster://[user:password@]host:port[,host:port…][/0][?options]`.

    Raises `ValueError` for another scheme, no node, a node without a valid port, or a database other
    than 0."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"not a cluster URL (expected one of {sorted(CLUSTER_SCHEMES)}): {scheme!r}")
    credentials, _, hosts = parts.netloc.rpartition("@")
    nodes = tuple(_node(text) for text in hosts.split(",") if text.strip())
    if not nodes:
        raise ValueError("a cluster URL names at least one host:port")
    if parts.path not in ("", "/", "/0"):
        raise ValueError("a Redis Cluster has only database 0")
    prefix = f"{credentials}@" if credentials else ""
    node_urls = tuple(
        urlunsplit((CLUSTER_SCHEMES[scheme], prefix + _netloc(host, port), "", parts.query, ""))
        for host, port in nodes
    )
    return ClusterUrl(nodes=nodes, node_urls=node_urls)


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _node(text: str) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = text.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65_536:
        raise ValueError(f"a cluster node must be host:port, got {text!r}")
    return unquote(host), int(port_text)


def connect(url: str, *, max_connections: int = MAX_CONNECTIONS) -> RedisClient:
    """A client whose pool WAITS (up to `POOL_WAIT_S`) for a free connection under load.

    redis-py's default pool raises at its connection cap instead, which a caller cannot tell from
    "Redis is down" — and the quota gate fails closed on that. A cluster client keeps one pool per
    node, `max_connections` each; redis-py's cluster pools cannot wait (at the cap a command raises
    `MaxConnectionsError`), so size `max_connections` per node for the process's concurrency.
    """
    if is_cluster_url(url):
        return _connect_cluster(parse_cluster_url(url), max_connections=max_connections)
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=POOL_WAIT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
    )
    client: aioredis.Redis = aioredis.Redis.from_pool(pool)  # the client owns (and closes) the pool
    return client


class ClusterUnavailableError(RedisConnectionError):
    """No node of the cluster could be reached to learn its slot map, or a slot has no node."""


class _Cluster(aioredis.RedisCluster):
    """`RedisCluster` whose "cannot reach the cluster" failures are Redis connection errors."""

    async def initialize(
        self,
        additional_startup_nodes_info: list[tuple[str, int]] | None = None,
        last_failed_node_name: str | None = None,
    ) -> aioredis.RedisCluster:
        try:
            return await super().initialize(additional_startup_nodes_info, last_failed_node_name)
        except RedisClusterException as exc:
            raise ClusterUnavailableError(str(exc)) from exc

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except SlotNotCoveredError as exc:
            raise ClusterUnavailableError(str(exc)) from exc


def _connect_cluster(parsed: ClusterUrl, *, max_connections: int) -> aioredis.RedisCluster:
    client: aioredis.RedisCluster = _Cluster.from_url(
        parsed.node_urls[0],
        startup_nodes=[ClusterNode(host, port) for host, port in parsed.nodes],
        max_connections=max_connections,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
    )
    return client


async def queue_script(
    pipe: RedisPipeline,
    script: AsyncScript,
    *,
    keys: Sequence[KeyT],
    args: Sequence[EncodableT],
) -> None:
    """Queue one call of a registered script in a pipeline.

    A single-server pipeline queues EVALSHA and loads missing scripts before it runs (redis-py's
    `Script`); a cluster pipeline refuses EVALSHA, so there the script's text goes as EVAL (the
    server caches it by its sha, like SCRIPT LOAD)."""
    if isinstance(pipe, ClusterPipeline):
        source = script.script
        text = source if isinstance(source, str) else bytes(source).decode()
        pipe.eval(text, len(keys), *keys, *args)
    else:
        await script(keys=keys, args=args, client=pipe)


async def open_pubsub(client: RedisClient) -> PubSub:
    """A pub/sub (subscribe confirmations not returned) for the change-feed channels.

    A cluster client learns the slot map on its first command; its pub/sub picks the node of a
    channel's slot from that map and fails with a KeyError (not a Redis error) without it, so a
    cluster client is initialized first (raises Redis errors when the cluster is unreachable)."""
    if isinstance(client, aioredis.RedisCluster):
        await client.initialize()  # at once when it already is
    return client.pubsub(ignore_subscribe_messages=True)

"""`connect`: which client a URL opens (single server or cluster), cluster URL parsing, and how a script
is queued in a single-server or cluster pipeline. Nothing here needs a server: clients connect lazily."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from control_plane.launcher.readiness import free_port, redis_ping
from control_plane.redis_client import (
    CONNECT_TIMEOUT_S,
    SOCKET_TIMEOUT_S,
    ClusterUnavailableError,
    ClusterUrl,
    connect,
    is_cluster_url,
    open_pubsub,
    parse_cluster_url,
    queue_script,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+cluster://127.0.0.1:7000", True),
        ("REDIS+CLUSTER://h:1", True),
        ("rediss+cluster://h:1", True),
        ("redis://127.0.0.1:6379/0", False),
        ("rediss://h:6379", False),
        ("unix:///tmp/redis.sock", False),
        ("valkey+cluster://h:1", False),
    ],
)
def test_is_cluster_url(url: str, expected: bool) -> None:
    assert is_cluster_url(url) is expected


def test_a_cluster_url_lists_every_node_in_order_with_per_node_urls() -> None:
    parsed = parse_cluster_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7001, node-c:7002")
    assert parsed == ClusterUrl(
        nodes=(("10.0.0.1", 7000), ("10.0.0.2", 7001), ("node-c", 7002)),
        node_urls=("redis://10.0.0.1:7000", "redis://10.0.0.2:7001", "redis://node-c:7002"),
    )


def test_credentials_options_and_tls_carry_over_to_every_node() -> None:
    parsed = parse_cluster_url("rediss+cluster://user:p%40ss@a:1,b:2/0?ssl_cert_reqs=none")
    assert parsed.nodes == (("a", 1), ("b", 2))
    assert parsed.node_urls == (
        "rediss://user:p%40ss@a:1?ssl_cert_reqs=none",
        "rediss://user:p%40ss@b:2?ssl_cert_reqs=none",
    )


def test_ipv6_nodes_are_bracketed() -> None:
    parsed = parse_cluster_url("redis+cluster://[::1]:7000,[fe80::2]:7001")
    assert parsed.nodes == (("::1", 7000), ("fe80::2", 7001))
    assert parsed.node_urls == ("redis://[::1]:7000", "redis://[fe80::2]:7001")


@pytest.mark.parametrize(
    "url",
    [
        "redis://h:1",  # not a cluster URL
        "redis+cluster://",  # no node
        "redis+cluster://,",  # no node
        "redis+cluster://host",  # no port
        "redis+cluster://host:",  # no port
        "redis+cluster://host:port",  # not a number
        "redis+cluster://host:0",  # out of range
        "redis+cluster://host:65536",  # out of range
        "redis+cluster://a:1,b",  # one node without a port
        "redis+cluster://a:1/2",  # a cluster has database 0 only
    ],
)
def test_malformed_cluster_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_cluster_url(url)


@pytest.mark.parametrize("path", ["", "/", "/0"])
def test_database_zero_is_accepted(path: str) -> None:
    assert parse_cluster_url(f"redis+cluster://a:1{path}").nodes == (("a", 1),)


async def test_connect_opens_a_single_server_client_for_redis_urls() -> None:
    client = connect("redis://127.0.0.1:6379/3", max_connections=7)
    try:
        assert isinstance(client, aioredis.Redis)
        pool = client.connection_pool
        assert isinstance(pool, aioredis.BlockingConnectionPool)
        assert pool.max_connections == 7
        assert pool.connection_kwargs["db"] == 3
        assert pool.connection_kwargs["socket_timeout"] == SOCKET_TIMEOUT_S
        assert pool.connection_kwargs["socket_connect_timeout"] == CONNECT_TIMEOUT_S
    finally:
        await client.aclose()


async def test_connect_opens_a_cluster_client_with_every_startup_node_and_the_same_timeouts() -> None:
    client = connect("redis+cluster://user:secret@127.0.0.1:7000,127.0.0.2:7001", max_connections=9)
    try:
        assert isinstance(client, aioredis.RedisCluster)
        startup = client.nodes_manager.startup_nodes
        assert {"127.0.0.1:7000", "127.0.0.2:7001"} <= set(startup)
        node = startup["127.0.0.2:7001"]
        assert node.max_connections == 9
        assert node.connection_kwargs["socket_timeout"] == SOCKET_TIMEOUT_S
        assert node.connection_kwargs["socket_connect_timeout"] == CONNECT_TIMEOUT_S
        assert node.connection_kwargs["username"] == "user"
        assert node.connection_kwargs["password"] == "secret"
    finally:
        await client.aclose()


def test_connect_refuses_a_malformed_cluster_url() -> None:
    with pytest.raises(ValueError, match="host:port"):
        connect("redis+cluster://no-port")


async def test_a_cluster_pipeline_queues_a_script_as_eval_with_its_keys() -> None:
    client = connect("redis+cluster://127.0.0.1:7000")
    try:
        script = client.register_script("return redis.call('INCR', KEYS[1])")
        pipe = client.pipeline(transaction=False)
        await queue_script(pipe, script, keys=["tw:{t:a}:n"], args=[5])
        queued = [command.args for command in pipe._execution_strategy._command_queue]  # type: ignore[attr-defined]
        assert queued == [("EVAL", "return redis.call('INCR', KEYS[1])", 1, "tw:{t:a}:n", 5)]
    finally:
        await client.aclose()


async def test_a_single_server_pipeline_queues_a_script_as_evalsha_and_loads_it_when_run() -> None:
    client = connect("redis://127.0.0.1:6379/0")
    try:
        script = client.register_script("return 1")
        async with client.pipeline(transaction=False) as pipe:
            await queue_script(pipe, script, keys=["k"], args=["a"])
            assert [args for args, _options in pipe.command_stack] == [("EVALSHA", script.sha, 1, "k", "a")]
            assert script in pipe.scripts  # SCRIPT LOAD before the pipeline runs, if the server lacks it
    finally:
        await client.aclose()


async def test_an_unreachable_cluster_raises_a_redis_connection_error_from_commands_and_pubsub() -> None:
    """redis-py's own `RedisClusterException` is not a `RedisError`: every `except RedisError` would miss
    it (and a pub/sub without a slot map fails with a KeyError)."""
    client = connect(f"redis+cluster://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(ClusterUnavailableError):
            await open_pubsub(client)
        with pytest.raises(RedisConnectionError):
            await client.get("tw:{t:a}:rate")
        pipe = client.pipeline(transaction=False)
        pipe.get("tw:{t:a}:rate")
        with pytest.raises(RedisConnectionError):
            await pipe.execute()
    finally:
        await client.aclose()


def test_redis_ping_of_a_cluster_url_is_false_when_a_node_does_not_answer() -> None:
    assert redis_ping(f"redis+cluster://127.0.0.1:{free_port()},127.0.0.1:{free_port()}") is False

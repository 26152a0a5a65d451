"""The one way Tollway processes open a Redis/Valkey client: with timeouts, so a half-open connection
can never hang a feed, a status write or an admin request."""

from __future__ import annotations

import redis.asyncio as aioredis

__all__ = ["connect"]

CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0
HEALTH_CHECK_INTERVAL_S = 15
MAX_CONNECTIONS = 256
POOL_WAIT_S = 2.0


def connect(url: str, *, max_connections: int = MAX_CONNECTIONS) -> aioredis.Redis:
    """A client whose pool WAITS (up to `POOL_WAIT_S`) for a free connection under load.

    redis-py's default pool raises at its connection cap instead, which a caller cannot tell from
    "Redis is down" — and the quota gate fails closed on that.
    """
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

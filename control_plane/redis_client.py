"""The one way Tollway processes open a Redis/Valkey client: with timeouts, so a half-open connection
can never hang a feed, a status write or an admin request."""

from __future__ import annotations

import redis.asyncio as aioredis

__all__ = ["connect"]

CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0
HEALTH_CHECK_INTERVAL_S = 15


def connect(url: str) -> aioredis.Redis:
    client: aioredis.Redis = aioredis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
    )
    return client

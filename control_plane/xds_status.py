"""Where xds servers publish what each Envoy node accepted, so any admin replica can show it."""

from __future__ import annotations

from redis.exceptions import RedisError

from control_plane.errors import StoreUnavailableError
from control_plane.keys import XDS_NODES
from control_plane.model import NodeStatus
from control_plane.redis_client import RedisClient

__all__ = ["RedisXdsStatusStore"]


class RedisXdsStatusStore:
    def __init__(self, client: RedisClient) -> None:
        self._client = client

    async def put(self, status: NodeStatus) -> None:
        await self._client.hset(XDS_NODES, status.node_id, status.model_dump_json())

    async def all(self) -> list[NodeStatus]:
        try:
            raw = await self._client.hgetall(XDS_NODES)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError("the status store (Redis/Valkey) is unreachable") from exc
        return sorted((NodeStatus.model_validate_json(v) for v in raw.values()), key=lambda s: s.node_id)

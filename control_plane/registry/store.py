"""Persistence of the registry snapshot in Redis/Valkey with an atomic compare-and-swap."""

from __future__ import annotations

from typing import Protocol

from redis.exceptions import RedisError

from control_plane.errors import StoreUnavailableError
from control_plane.keys import REGISTRY_CHANGES, REGISTRY_SNAPSHOT, REGISTRY_VERSION
from control_plane.model import Snapshot
from control_plane.redis_client import RedisClient

__all__ = ["RedisRegistryStore", "RegistryStore"]

# KEYS: version, snapshot. ARGV: expected version, new version, snapshot JSON, change channel.
# Sets both keys and announces the new version only when the stored version is the expected one.
_COMPARE_AND_SWAP = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current ~= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
"""


def _dump(snapshot: Snapshot) -> str:
    """Only the fields that were given: a tenant's `overrides` mean "the fields set", which a full dump
    would turn into "every field" (unset limits stored as null would lift the plan's limits)."""
    return snapshot.model_dump_json(exclude_unset=True)


class RegistryStore(Protocol):
    async def load(self) -> Snapshot: ...

    async def compare_and_swap(self, expected_version: int, snapshot: Snapshot) -> bool: ...


class RedisRegistryStore:
    """Snapshot JSON and its version in two keys of one hash slot, written together by a Lua script."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._cas = client.register_script(_COMPARE_AND_SWAP)

    async def load(self) -> Snapshot:
        try:
            raw = await self._client.get(REGISTRY_SNAPSHOT)
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError("the registry store (Redis/Valkey) is unreachable") from exc
        if raw is None:
            return Snapshot(version=0)
        return Snapshot.model_validate_json(raw)

    async def compare_and_swap(self, expected_version: int, snapshot: Snapshot) -> bool:
        try:
            swapped = await self._cas(
                keys=[REGISTRY_VERSION, REGISTRY_SNAPSHOT],
                args=[expected_version, snapshot.version, _dump(snapshot), REGISTRY_CHANGES],
            )
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError("the registry store (Redis/Valkey) is unreachable") from exc
        return bool(swapped)

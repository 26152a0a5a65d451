"""What the admin API needs from the rest of the system, as Protocols (fakes in tests, Redis in prod)."""

from __future__ import annotations

from typing import Protocol

from control_plane.model import Model, NodeStatus, RegistrySpec, Snapshot
from control_plane.registry import ApplyResult

__all__ = ["RegistryPort", "XdsStatusPort"]


class RegistryPort(Protocol):
    async def snapshot(self) -> Snapshot: ...

    async def apply(self, spec: RegistrySpec) -> ApplyResult: ...

    async def put_model(self, model: Model) -> ApplyResult: ...

    async def remove_model(self, name: str) -> ApplyResult: ...


class XdsStatusPort(Protocol):
    async def all(self) -> list[NodeStatus]: ...

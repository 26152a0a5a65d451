"""In-memory fakes of the Protocols in the packages, shared by unit tests."""

import asyncio

from control_plane.model import NodeStatus, Snapshot


class MemoryRegistryStore:
    """In-memory fake of RegistryStore with the same compare-and-swap contract."""

    def __init__(self) -> None:
        self.snapshot = Snapshot(version=0)
        self.swaps = 0
        self.interfere = 0  # next N swaps fail as if another writer won

    async def load(self) -> Snapshot:
        return self.snapshot

    async def compare_and_swap(self, expected_version: int, snapshot: Snapshot) -> bool:
        await asyncio.sleep(0)
        if self.interfere:
            self.interfere -= 1
            return False
        if self.snapshot.version != expected_version:
            return False
        self.snapshot = snapshot
        self.swaps += 1
        return True


class MemoryXdsStatusStore:
    def __init__(self, nodes: list[NodeStatus] | None = None) -> None:
        self.nodes = nodes or []

    async def all(self) -> list[NodeStatus]:
        return list(self.nodes)

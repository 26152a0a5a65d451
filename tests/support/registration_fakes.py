"""In-memory fake of control_plane.registrations.RegistrationStore, for admin API and CLI tests."""

from datetime import datetime

from control_plane.model import BackendRegistration
from tests.support.fakes import FakeClock

__all__ = ["MemoryRegistrationStore"]


class MemoryRegistrationStore:
    """In-memory fake of RegistrationStore: leases that expire by the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.entries: dict[tuple[str, str], BackendRegistration] = {}

    def now(self) -> datetime:
        return self.clock()

    async def put(self, registration: BackendRegistration) -> None:
        self.entries[registration.key] = registration

    async def remove(self, model: str, backend: str) -> bool:
        gone = self.entries.pop((model, backend), None)
        return gone is not None and gone.expires_at >= self.clock()

    async def live(self) -> list[BackendRegistration]:
        self.entries = {k: r for k, r in self.entries.items() if r.expires_at >= self.clock()}
        return sorted(self.entries.values(), key=lambda r: r.key)

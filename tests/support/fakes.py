"""In-memory fakes of the Protocols in the packages, shared by unit tests."""

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from admin_ui.app import create_app
from control_plane.admin_client import AdminClient
from control_plane.admin_users import AdminUsers
from control_plane.keystore import KeyStore
from control_plane.model import AdminUser, ApiKey, NodeStatus, Snapshot
from control_plane.registry import Registry
from tests.support.audit_fakes import MemoryAuditLog
from tests.support.cache_admin_fakes import MemoryCacheAdmin


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


class MemoryKeyRecords:
    """In-memory fake of control_plane.keystore.KeyRecords: keeps keys by id and every atomic write."""

    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.version = 0
        self.published: list[str] = []
        self.writes: list[list[str]] = []  # key ids per atomic write

    async def by_id(self, key_id: str) -> ApiKey | None:
        return self.keys.get(key_id)

    async def all(self) -> list[ApiKey]:
        return sorted(self.keys.values(), key=lambda k: (k.created_at, k.id))

    async def write(self, keys: Sequence[ApiKey]) -> None:
        await asyncio.sleep(0)
        for key in keys:
            self.keys[key.id] = key
        self.version += 1
        self.published.extend(k.secret_hash for k in keys)
        self.writes.append([k.id for k in keys])


class MemoryAdminUserStore:
    """In-memory fake of control_plane.admin_users.AdminUserStore; `puts` counts replacing writes."""

    def __init__(self) -> None:
        self.users: dict[str, AdminUser] = {}
        self.puts = 0

    async def get(self, username: str) -> AdminUser | None:
        return self.users.get(username)

    async def list(self) -> list[AdminUser]:
        return sorted(self.users.values(), key=lambda u: u.username)

    async def add(self, user: AdminUser) -> bool:
        await asyncio.sleep(0)
        if user.username in self.users:
            return False
        self.users[user.username] = user
        return True

    async def put(self, user: AdminUser) -> None:
        await asyncio.sleep(0)
        self.users[user.username] = user
        self.puts += 1

    async def delete(self, username: str) -> bool:
        return self.users.pop(username, None) is not None


class MemoryUsageReader:
    """In-memory fake of the usage port: counters per (tenant, month `YYYY-MM` or day `YYYY-MM-DD`)."""

    def __init__(self, usage: dict[tuple[str, str], dict[str, int]] | None = None) -> None:
        self.usage = usage or {}

    async def month_usage(self, tenant: str, month: str) -> Mapping[str, int]:
        return dict(self.usage.get((tenant, month), {}))

    async def day_usage(self, tenant: str, days: Sequence[str]) -> Mapping[str, Mapping[str, int]]:
        """Per (tenant, `YYYY-MM-DD`) counters, kept in the same `usage` dict as the months."""
        return {day: dict(self.usage.get((tenant, day), {})) for day in days}


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


ADMIN_TOKEN = "t" * 32


@dataclass
class AdminHarness:
    """The admin app over in-memory fakes (registry store, key records, usage, cache, admin UI users),
    for API and CLI tests."""

    clock: FakeClock
    store: MemoryRegistryStore = field(default_factory=MemoryRegistryStore)
    records: MemoryKeyRecords = field(default_factory=MemoryKeyRecords)
    usage: MemoryUsageReader = field(default_factory=MemoryUsageReader)
    xds_status: MemoryXdsStatusStore = field(default_factory=MemoryXdsStatusStore)
    cache: MemoryCacheAdmin = field(default_factory=MemoryCacheAdmin)
    user_store: MemoryAdminUserStore = field(default_factory=MemoryAdminUserStore)
    audit: MemoryAuditLog = field(default_factory=MemoryAuditLog)

    def __post_init__(self) -> None:
        self.registry = Registry(self.store)
        self.keys = KeyStore(self.records, self.registry, clock=self.clock)
        self.users = AdminUsers(self.user_store, clock=self.clock)
        self.app = create_app(
            registry_port=self.registry,
            xds_status=self.xds_status,
            keys_port=self.keys,
            usage_port=self.usage,
            admin_token=ADMIN_TOKEN,
            cache_port=self.cache,
            users_port=self.users,
            audit_port=self.audit,
        )

    def admin_client(self) -> AdminClient:
        """A real AdminClient whose HTTP goes to the app in-process (TestClient is an httpx.Client)."""
        client = AdminClient("http://admin", ADMIN_TOKEN)
        client._http.close()
        client._http = TestClient(
            self.app, base_url="http://admin", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        return client

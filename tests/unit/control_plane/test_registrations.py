"""Self-registration leases on a real (embedded) Valkey, with a clock the tests move by hand."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from control_plane.errors import RegistryNotFoundError, RegistryValidationError, StoreUnavailableError
from control_plane.keys import REGISTRATIONS_ENTRIES, REGISTRATIONS_EXPIRY
from control_plane.launcher.readiness import free_port
from control_plane.model import Backend, BackendRegistration, Model, RegistrationPolicy
from control_plane.redis_client import connect
from control_plane.registrations import RedisRegistrationStore, Registrations
from control_plane.registry import Registry
from tests.support.fakes import FakeClock, MemoryRegistryStore

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
STATIC = Backend(name="static", base_url="http://10.0.0.1:8000/v1")
GPU2 = Backend(name="gpu2", base_url="http://10.0.0.2:8000/v1", weight=3)


@pytest.fixture
async def client(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(valkey_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def store(client: aioredis.Redis, clock: FakeClock) -> RedisRegistrationStore:
    return RedisRegistrationStore(client, clock=clock, poll_interval_s=0.05)


@pytest.fixture
async def registrations(store: RedisRegistrationStore) -> Registrations:
    registry = Registry(MemoryRegistryStore())
    await registry.put_model(
        Model(
            name="meta/llama",
            aliases=("l3",),
            backends=(STATIC,),
            registration=RegistrationPolicy(allowed_networks=("10.0.0.0/8", "127.0.0.0/8")),
        )
    )
    return Registrations(store, registry)


async def test_register_heartbeat_and_expiry(
    registrations: Registrations, store: RedisRegistrationStore, clock: FakeClock, client: aioredis.Redis
) -> None:
    first = await registrations.register("l3", GPU2, ttl_s=5)  # an alias names the model
    assert (first.model, first.backend, first.ttl_s, first.expires_at) == (
        "meta/llama",
        GPU2,
        5,
        NOW + timedelta(seconds=5),
    )
    assert await registrations.list() == [first]
    clock.advance(timedelta(seconds=4))
    beat = await registrations.register("meta/llama", GPU2, ttl_s=5)  # heartbeat: a new expiry
    assert beat.expires_at == NOW + timedelta(seconds=9)
    clock.advance(timedelta(seconds=4.9))
    assert [r.expires_at for r in await registrations.list("meta/llama")] == [beat.expires_at]
    clock.advance(timedelta(seconds=0.2))
    assert await registrations.list() == []
    assert await client.hlen(REGISTRATIONS_ENTRIES) == 0  # purged, not only hidden
    assert await client.zcard(REGISTRATIONS_EXPIRY) == 0


async def test_deregister_is_idempotent(registrations: Registrations) -> None:
    await registrations.register("meta/llama", GPU2)
    assert await registrations.deregister("l3", "gpu2") is True
    assert await registrations.deregister("meta/llama", "gpu2") is False
    assert await registrations.list() == []


@pytest.mark.parametrize(
    ("model", "backend", "ttl_s", "error", "message"),
    [
        ("ghost", GPU2, 15, RegistryNotFoundError, "model 'ghost' is not in the registry"),
        ("l3", Backend(name="b", base_url="http://gpu.internal:8000/v1"), 15, RegistryValidationError,
         "must be addressed by an IP literal or localhost"),
        ("l3", Backend(name="b", base_url="https://10.0.0.3:8000/v1"), 15, RegistryValidationError,
         "another scheme or base path"),
        ("l3", Backend(name="b", base_url="http://10.0.0.3:8000/v2"), 15, RegistryValidationError,
         "another scheme or base path"),
        ("l3", Backend(name="static", base_url="http://10.0.0.3:8000/v1"), 15, RegistryValidationError,
         "has a registry backend of that name"),
        ("l3", GPU2, 1, RegistryValidationError, "ttl_s: Input should be greater than or equal to 3"),
    ],
)  # fmt: skip
async def test_register_refuses_what_cannot_join_the_model(
    registrations: Registrations,
    model: str,
    backend: Backend,
    ttl_s: float,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        await registrations.register(model, backend, ttl_s)
    assert await registrations.list() == []


@pytest.fixture
async def feed(
    store: RedisRegistrationStore,
) -> AsyncIterator[asyncio.Queue[tuple[BackendRegistration, ...]]]:
    """What `store.watch()` yields, collected by a task (a cancelled `anext` would end the generator)."""
    queue: asyncio.Queue[tuple[BackendRegistration, ...]] = asyncio.Queue()

    async def follow() -> None:
        async for registrations in store.watch():
            queue.put_nowait(registrations)

    task = asyncio.create_task(follow())
    yield queue
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _next(feed: asyncio.Queue[tuple[BackendRegistration, ...]]) -> tuple[BackendRegistration, ...]:
    return await asyncio.wait_for(feed.get(), timeout=2.0)


async def test_watch_yields_on_changes_and_expiry_not_on_heartbeats(
    registrations: Registrations, feed: asyncio.Queue[tuple[BackendRegistration, ...]], clock: FakeClock
) -> None:
    assert await _next(feed) == ()
    await registrations.register("meta/llama", GPU2, ttl_s=5)
    assert [r.backend.name for r in await _next(feed)] == ["gpu2"]
    clock.advance(timedelta(seconds=1))
    await registrations.register("meta/llama", GPU2, ttl_s=5)  # heartbeat: Envoy sees nothing new
    await asyncio.sleep(0.3)  # several polls and the pub/sub message
    assert feed.empty()
    moved = GPU2.model_copy(update={"weight": 7})
    await registrations.register("meta/llama", moved, ttl_s=5)
    assert [r.backend.weight for r in await _next(feed)] == [7]
    clock.advance(timedelta(seconds=5.1))  # the lease runs out with no write at all
    assert await _next(feed) == ()


async def test_watch_waits_out_a_redis_outage(clock: FakeClock) -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    store = RedisRegistrationStore(client, clock=clock, retry_s=0.05)
    feed = store.watch()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(feed), timeout=0.5)  # keeps retrying, yields nothing
    with pytest.raises(StoreUnavailableError):
        await store.live()
    await feed.aclose()
    await client.aclose()


async def test_a_model_takes_at_most_max_backends_registrations(store: RedisRegistrationStore) -> None:
    registry = Registry(MemoryRegistryStore())
    policy = RegistrationPolicy(allowed_networks=("10.0.0.0/8",), max_backends=2)
    await registry.put_model(Model(name="small", backends=(STATIC,), registration=policy))
    registrations = Registrations(store, registry)
    pods = [Backend(name=f"pod-{i}", base_url=f"http://10.0.9.{i}:8000/v1") for i in range(3)]
    await registrations.register("small", pods[0])
    await registrations.register("small", pods[1])
    await registrations.register("small", pods[1])  # a heartbeat is not a new registration
    with pytest.raises(RegistryValidationError, match="already has 2 registered backends"):
        await registrations.register("small", pods[2])
    assert sorted(r.backend.name for r in await registrations.list("small")) == ["pod-0", "pod-1"]

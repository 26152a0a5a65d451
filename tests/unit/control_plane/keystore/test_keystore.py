"""Key management rules over in-memory key records."""

from datetime import UTC, datetime, timedelta

import pytest

from control_plane.errors import KeyNotFoundError, KeyStateError, KeyValidationError
from control_plane.keystore import KeyStore
from control_plane.model import Backend, KeyState, Model, Plan, Tenant, hash_secret
from control_plane.registry import Registry
from tests.support.fakes import FakeClock, MemoryKeyRecords, MemoryRegistryStore

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
async def setup() -> tuple[KeyStore, MemoryKeyRecords, FakeClock]:
    registry = Registry(MemoryRegistryStore())
    backend = Backend(name="b", base_url="http://127.0.0.1:1/v1")
    await registry.put_model(Model(name="llama", aliases=("l3",), backends=(backend,)))
    await registry.put_model(Model(name="qwen", backends=(backend,)))
    await registry.put_plan(Plan(name="gold"))
    await registry.put_tenant(Tenant(id="acme", plan="gold"))
    records, clock = MemoryKeyRecords(), FakeClock(NOW)
    return KeyStore(records, registry, clock=clock), records, clock


async def test_create_stores_only_the_hash_and_announces_it(
    setup: tuple[KeyStore, MemoryKeyRecords, FakeClock],
) -> None:
    store, records, _ = setup
    key, secret = await store.create("acme", "ci", ["l3", "llama", "qwen"], NOW + timedelta(days=30))
    assert key.secret_hash == hash_secret(secret)
    assert secret not in key.model_dump_json()
    assert key.allowed_models == ("llama", "qwen")
    assert (key.tenant, key.name, key.created_at, key.expires_at) == (
        "acme",
        "ci",
        NOW,
        NOW + timedelta(days=30),
    )
    assert records.published == [key.secret_hash]
    assert records.version == 1
    assert await store.get(key.id) == key


@pytest.mark.parametrize(
    ("tenant", "models", "expires", "message"),
    [
        ("ghost", None, None, "tenant 'ghost' is not in the registry"),
        ("", None, None, "needs a tenant"),
        ("acme", ["gpt-9", "llama"], None, "unknown model(s) 'gpt-9'"),
        ("acme", None, NOW, "is not in the future"),
        ("acme", [], None, "allowed_models is empty"),
    ],
)
async def test_create_validates(
    setup: tuple[KeyStore, MemoryKeyRecords, FakeClock],
    tenant: str,
    models: list[str] | None,
    expires: datetime | None,
    message: str,
) -> None:
    store, records, _ = setup
    with pytest.raises(KeyValidationError) as caught:
        await store.create(tenant, allowed_models=models, expires_at=expires)
    assert message in str(caught.value)
    assert records.writes == []


async def test_list_filters_by_tenant(setup: tuple[KeyStore, MemoryKeyRecords, FakeClock]) -> None:
    store, _, clock = setup
    first, _ = await store.create("acme")
    clock.advance(timedelta(seconds=1))
    second, _ = await store.create("acme")
    assert [k.id for k in await store.list()] == [first.id, second.id]
    assert [k.id for k in await store.list("acme")] == [first.id, second.id]
    assert await store.list("other") == []
    with pytest.raises(KeyNotFoundError):
        await store.get("key_0123456789abcdef")


async def test_revoke_is_immediate_and_idempotent(
    setup: tuple[KeyStore, MemoryKeyRecords, FakeClock],
) -> None:
    store, records, _ = setup
    key, _ = await store.create("acme")
    revoked = await store.revoke(key.id)
    assert revoked.revoked_at == NOW
    assert revoked.state(NOW) is KeyState.REVOKED
    assert await store.revoke(key.id) == revoked
    assert len(records.writes) == 2


async def test_rotate_copies_the_key_and_gives_the_old_one_a_grace_period(
    setup: tuple[KeyStore, MemoryKeyRecords, FakeClock],
) -> None:
    store, records, clock = setup
    old, old_secret = await store.create("acme", "ci", ["qwen"], NOW + timedelta(days=30))
    new, secret = await store.rotate(old.id, timedelta(seconds=60))
    assert secret != old_secret
    assert (new.tenant, new.name, new.allowed_models, new.expires_at) == (
        "acme",
        "ci",
        ("qwen",),
        old.expires_at,
    )
    retired = await store.get(old.id)
    assert (retired.expires_at, retired.rotated_to) == (NOW + timedelta(seconds=60), new.id)
    assert retired.secret_hash == old.secret_hash
    assert records.writes[-1] == [new.id, old.id]  # one atomic write for both keys
    assert records.published[-2:] == [new.secret_hash, old.secret_hash]
    clock.advance(timedelta(seconds=59))
    assert retired.state(clock.now) is KeyState.ACTIVE
    clock.advance(timedelta(seconds=1))
    assert retired.state(clock.now) is KeyState.EXPIRED
    with pytest.raises(KeyStateError, match="expired"):
        await store.rotate(old.id, timedelta(0))


async def test_rotate_never_extends_an_earlier_expiry(
    setup: tuple[KeyStore, MemoryKeyRecords, FakeClock],
) -> None:
    store, _, _ = setup
    soon = NOW + timedelta(seconds=10)
    old, _ = await store.create("acme", expires_at=soon)
    await store.rotate(old.id, timedelta(hours=1))
    assert (await store.get(old.id)).expires_at == soon
    with pytest.raises(KeyStateError, match="already rotated"):
        await store.rotate(old.id, timedelta(hours=1))
    with pytest.raises(KeyValidationError, match="negative"):
        await store.rotate(old.id, timedelta(seconds=-1))

import asyncio

import pytest

from control_plane.errors import RegistryConflictError, RegistryNotFoundError, RegistryValidationError
from control_plane.model import Backend, Model, RegistrySpec
from control_plane.registry import Registry
from tests.support.fakes import MemoryRegistryStore


def _model(name: str, *aliases: str) -> Model:
    return Model(name=name, aliases=aliases, backends=(Backend(name="b", base_url="http://127.0.0.1:1/v1"),))


async def test_put_bumps_version_by_one_and_is_idempotent() -> None:
    store = MemoryRegistryStore()
    registry = Registry(store)
    first = await registry.put_model(_model("a"))
    assert (first.snapshot.version, first.changed) == (1, True)
    again = await registry.put_model(_model("a"))
    assert (again.snapshot.version, again.changed) == (1, False)
    assert store.swaps == 1


async def test_apply_replaces_everything_and_same_spec_is_a_no_op() -> None:
    registry = Registry(MemoryRegistryStore())
    await registry.put_model(_model("old"))
    spec = RegistrySpec(models=(_model("a"), _model("b")))
    result = await registry.apply(spec)
    assert result.changed
    assert [m.name for m in result.snapshot.models] == ["a", "b"]
    assert (await registry.apply(spec)).changed is False
    assert (await registry.snapshot()).version == 2


async def test_invalid_write_is_refused_and_nothing_stored() -> None:
    store = MemoryRegistryStore()
    registry = Registry(store)
    await registry.put_model(_model("a", "x"))
    with pytest.raises(RegistryValidationError, match="'x' is used by both"):
        await registry.put_model(_model("b", "x"))
    assert store.snapshot.version == 1
    assert store.swaps == 1


async def test_remove_unknown_model() -> None:
    with pytest.raises(RegistryNotFoundError, match="'nope'"):
        await Registry(MemoryRegistryStore()).remove_model("nope")


async def test_lost_races_are_retried_then_reported() -> None:
    store = MemoryRegistryStore()
    store.interfere = 3
    assert (await Registry(store).put_model(_model("a"))).snapshot.version == 1
    store.interfere = 1000
    with pytest.raises(RegistryConflictError):
        await Registry(store).put_model(_model("b"))


async def test_concurrent_writers_never_lose_a_write() -> None:
    store = MemoryRegistryStore()
    registry = Registry(store)
    await asyncio.gather(*(registry.put_model(_model(f"m{i}")) for i in range(10)))
    assert store.snapshot.version == 10
    assert sorted(m.name for m in store.snapshot.models) == sorted(f"m{i}" for i in range(10))


async def test_re_putting_an_unchanged_model_that_is_not_last_changes_nothing() -> None:
    store = MemoryRegistryStore()
    registry = Registry(store)
    await registry.put_model(_model("a"))
    await registry.put_model(_model("b"))
    again = await registry.put_model(_model("a"))
    assert again.changed is False
    assert [m.name for m in store.snapshot.models] == ["a", "b"]

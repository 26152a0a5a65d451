"""Registry writes for upstream credentials: put (create, rotate), remove (refused while in use)."""

from datetime import UTC, datetime

import pytest

from control_plane.errors import RegistryNotFoundError, RegistryValidationError
from control_plane.model import Backend, Model, UpstreamCredential
from control_plane.registry import Registry
from tests.support.fakes import MemoryRegistryStore

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)


def _credential(
    name: str = "openai", sealed: str = "gAAAA-sealed-1", at: datetime = JAN
) -> UpstreamCredential:
    return UpstreamCredential(name=name, sealed_value=sealed, hint="…wxyz", updated_at=at)


def _model(name: str, *credentials: str) -> Model:
    return Model(
        name=name,
        backends=(Backend(name="b", base_url="https://api.example.com/v1"),),
        upstream_credentials=credentials,
    )


async def test_put_creates_then_rotates_in_place() -> None:
    store = MemoryRegistryStore()
    registry = Registry(store)
    created = await registry.put_credential(_credential())
    assert (created.changed, created.snapshot.version) == (True, 1)
    await registry.put_credential(_credential("azure"))
    rotated = await registry.put_credential(_credential(sealed="gAAAA-sealed-2", at=FEB))
    assert (rotated.changed, rotated.snapshot.version) == (True, 3)
    assert [c.name for c in store.snapshot.spec.credentials] == ["openai", "azure"]
    openai = store.snapshot.spec.credential("openai")
    assert openai is not None
    assert (openai.sealed_value, openai.updated_at, openai.header, openai.prefix) == (
        "gAAAA-sealed-2", FEB, "authorization", "Bearer ")  # fmt: skip
    again = await registry.put_credential(_credential(sealed="gAAAA-sealed-2", at=FEB))
    assert (again.changed, again.snapshot.version) == (False, 3)


async def test_models_need_the_credential_to_exist() -> None:
    registry = Registry(MemoryRegistryStore())
    with pytest.raises(RegistryValidationError, match="model 'gpt' uses credential 'openai', which does not"):
        await registry.put_model(_model("gpt", "openai"))
    await registry.put_credential(_credential())
    assert (await registry.put_model(_model("gpt", "openai"))).changed is True


async def test_remove_in_use_names_the_models_then_succeeds() -> None:
    store = MemoryRegistryStore()
    registry = Registry(store)
    await registry.put_credential(_credential())
    await registry.put_model(_model("gpt", "openai"))
    await registry.put_model(_model("gpt-mini", "openai"))
    with pytest.raises(RegistryValidationError) as in_use:
        await registry.remove_credential("openai")
    assert in_use.value.problems == [
        "credential 'openai' is used by model(s) 'gpt', 'gpt-mini'; "
        "remove it from their upstream_credentials first"
    ]
    assert store.snapshot.spec.credential("openai") is not None
    await registry.put_model(_model("gpt"))
    await registry.remove_model("gpt-mini")
    removed = await registry.remove_credential("openai")
    assert (removed.changed, removed.snapshot.spec.credentials) == (True, ())
    with pytest.raises(RegistryNotFoundError, match="credential 'openai' is not in the registry"):
        await registry.remove_credential("openai")


async def test_a_credential_header_clashing_with_a_plain_header_is_refused() -> None:
    registry = Registry(MemoryRegistryStore())
    await registry.put_credential(_credential("org").model_copy(update={"header": "openai-organization"}))
    clash = _model("gpt", "org").model_copy(update={"upstream_headers": {"openai-organization": "x"}})
    with pytest.raises(
        RegistryValidationError, match="'openai-organization' is both a credential and a plain"
    ):
        await registry.put_model(clash)


async def test_apply_leaves_credentials_alone() -> None:
    store = MemoryRegistryStore()
    registry = Registry(store)
    await registry.put_credential(_credential())
    spec = store.snapshot.spec.model_copy(update={"credentials": (), "models": (_model("gpt"),)})
    await registry.apply(spec)  # a spec's credentials are not an apply section
    assert [c.name for c in store.snapshot.spec.credentials] == ["openai"]
    assert [m.name for m in store.snapshot.spec.models] == ["gpt"]

"""Registry writes for plans, tenants and prices, and per-section apply."""

from datetime import UTC, datetime

import pytest

from control_plane.errors import RegistryNotFoundError, RegistryValidationError
from control_plane.model import Backend, Limits, Model, Plan, Price, RegistrySpec, Tenant
from control_plane.registry import Registry, RegistryDocument
from tests.support.fakes import MemoryRegistryStore

JAN = datetime(2026, 1, 1, tzinfo=UTC)
NOV = datetime(2026, 11, 1, tzinfo=UTC)


def _model(name: str) -> Model:
    return Model(name=name, backends=(Backend(name="b", base_url="http://127.0.0.1:1/v1"),))


async def _registry() -> tuple[Registry, MemoryRegistryStore]:
    store = MemoryRegistryStore()
    registry = Registry(store)
    await registry.put_model(_model("llama"))
    await registry.put_plan(Plan(name="gold"))
    await registry.put_tenant(Tenant(id="acme", plan="gold"))
    return registry, store


async def test_put_replaces_in_place_and_is_idempotent() -> None:
    registry, store = await _registry()
    assert (await registry.put_plan(Plan(name="gold"))).changed is False
    await registry.put_plan(Plan(name="silver"))
    changed = await registry.put_plan(Plan(name="gold", description="better"))
    assert [p.name for p in changed.snapshot.spec.plans] == ["gold", "silver"]
    assert changed.snapshot.spec.plans[0].description == "better"
    assert store.snapshot.version == 5


async def test_removing_a_plan_in_use_names_its_tenants() -> None:
    registry, store = await _registry()
    await registry.put_tenant(Tenant(id="beta", plan="gold"))
    with pytest.raises(RegistryValidationError, match=r"plan 'gold' is used by tenant\(s\) 'acme', 'beta'"):
        await registry.remove_plan("gold")
    assert store.snapshot.spec.plan("gold") is not None
    with pytest.raises(RegistryNotFoundError):
        await registry.remove_plan("nope")
    await registry.remove_tenant("acme")
    await registry.remove_tenant("beta")
    assert (await registry.remove_plan("gold")).snapshot.spec.plans == ()
    with pytest.raises(RegistryNotFoundError, match="'acme'"):
        await registry.remove_tenant("acme")


async def test_tenant_needs_an_existing_plan() -> None:
    registry, _ = await _registry()
    with pytest.raises(RegistryValidationError, match="uses plan 'nope', which does not exist"):
        await registry.put_tenant(Tenant(id="x", plan="nope"))


async def test_tenant_overrides_keep_only_the_fields_given() -> None:
    registry, store = await _registry()
    await registry.put_plan(Plan(name="gold", limits=Limits(requests_per_minute=60, tokens_per_minute=1000)))
    await registry.put_tenant(Tenant(id="acme", plan="gold", overrides=Limits(requests_per_minute=5)))
    await registry.put_model(_model("other"))  # another write round-trips the whole spec
    tenant = store.snapshot.spec.tenant("acme")
    plan = store.snapshot.spec.plan("gold")
    assert tenant is not None
    assert tenant.overrides is not None
    assert plan is not None
    effective = plan.limits.overridden_by(tenant.overrides)
    assert (effective.requests_per_minute, effective.tokens_per_minute) == (5, 1000)


async def test_prices_are_versioned_by_effective_from() -> None:
    registry, _ = await _registry()
    await registry.put_price(Price(model="llama", effective_from=JAN, input_per_1m_micro=1))
    await registry.put_price(Price(model="llama", effective_from=NOV, input_per_1m_micro=2))
    replaced = await registry.put_price(Price(model="llama", effective_from=NOV, input_per_1m_micro=3))
    assert [p.input_per_1m_micro for p in replaced.snapshot.spec.prices] == [1, 3]
    with pytest.raises(RegistryValidationError, match="model 'ghost': the model is not in the registry"):
        await registry.put_price(Price(model="ghost", effective_from=JAN))
    removed = await registry.remove_price("llama", JAN)
    assert [p.effective_from for p in removed.snapshot.spec.prices] == [NOV]
    with pytest.raises(RegistryNotFoundError, match="no price effective from"):
        await registry.remove_price("llama", JAN)


async def test_apply_replaces_only_the_sections_present() -> None:
    registry, _ = await _registry()
    await registry.put_price(Price(model="llama", effective_from=JAN))
    models_only = RegistryDocument.model_validate({"models": [{"name": "qwen", "backends": [
        {"name": "b", "base_url": "http://127.0.0.1:2/v1"}]}]})  # fmt: skip
    result = await registry.apply(models_only)
    spec = result.snapshot.spec
    assert [m.name for m in spec.models] == ["qwen"]
    assert [t.id for t in spec.tenants] == ["acme"]
    assert [p.name for p in spec.plans] == ["gold"]
    assert len(spec.prices) == 1  # prices are history; a model's removal keeps them
    assert (await registry.apply(models_only)).changed is False
    # a tenants-only document is checked against the registry's plans, not against itself
    two = RegistryDocument.model_validate(
        {"tenants": [{"id": "acme", "plan": "gold"}, {"id": "b", "plan": "gold"}]}
    )
    assert [t.id for t in (await registry.apply(two)).snapshot.spec.tenants] == ["acme", "b"]
    with pytest.raises(RegistryValidationError, match="plan 'platinum', which does not exist"):
        await registry.apply(RegistryDocument.model_validate({"tenants": [{"id": "c", "plan": "platinum"}]}))
    # an empty section is a real value: it empties that section
    assert (await registry.apply(RegistryDocument(tenants=()))).snapshot.spec.tenants == ()
    # RegistrySpec works too, by the same rule
    assert (await registry.apply(RegistrySpec(models=(_model("z"),)))).snapshot.spec.plans[0].name == "gold"

"""The demo plan, tenant, price and key `tollway up` seeds, against the admin app over fakes."""

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from control_plane.launcher.demo_seed import DEMO_KEY_FILE, seed_demo
from control_plane.model import Backend, Model, hash_secret
from tests.support.fakes import AdminHarness, FakeClock


@pytest.fixture
def harness() -> AdminHarness:
    harness = AdminHarness(clock=FakeClock(datetime(2026, 11, 21, tzinfo=UTC)))
    client = harness.admin_client()
    client.put_model(Model(name="demo", backends=(Backend(name="mock", base_url="http://127.0.0.1:1/v1"),)))
    client.close()
    return harness


def test_first_start_creates_everything_and_a_0600_key_file(harness: AdminHarness, tmp_path: Path) -> None:
    client = harness.admin_client()
    secret = seed_demo(client, tmp_path, "demo")
    spec = harness.store.snapshot.spec
    plan = spec.plan("demo")
    assert plan is not None
    assert plan.limits.requests_per_minute == 600
    assert plan.limits.tokens_per_minute == 200_000
    assert spec.tenant("demo") is not None
    assert [p.model for p in spec.prices] == ["demo"]
    key_file = tmp_path / DEMO_KEY_FILE
    assert key_file.read_text().strip() == secret
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    [key] = harness.records.keys.values()
    assert (key.tenant, key.secret_hash) == ("demo", hash_secret(secret))


def test_later_starts_reuse_an_active_key_and_change_nothing(harness: AdminHarness, tmp_path: Path) -> None:
    client = harness.admin_client()
    secret = seed_demo(client, tmp_path, "demo")
    version, writes = harness.store.snapshot.version, len(harness.records.writes)
    assert seed_demo(client, tmp_path, "demo") == secret
    assert (harness.store.snapshot.version, len(harness.records.writes)) == (version, writes)


def test_a_revoked_or_missing_key_is_replaced(harness: AdminHarness, tmp_path: Path) -> None:
    client = harness.admin_client()
    first = seed_demo(client, tmp_path, "demo")
    [key] = harness.records.keys.values()
    client.revoke_key(key.id)
    second = seed_demo(client, tmp_path, "demo")
    assert second != first
    assert (tmp_path / DEMO_KEY_FILE).read_text().strip() == second
    assert stat.S_IMODE((tmp_path / DEMO_KEY_FILE).stat().st_mode) == 0o600
    harness.records.keys.clear()  # e.g. a fresh Valkey with an old state dir
    third = seed_demo(client, tmp_path, "demo")
    assert third not in (first, second)
    assert len(harness.records.keys) == 1


def test_operator_changes_are_kept(harness: AdminHarness, tmp_path: Path) -> None:
    client = harness.admin_client()
    seed_demo(client, tmp_path, "demo")
    plan = harness.store.snapshot.spec.plan("demo")
    assert plan is not None
    client.put_plan(plan.model_copy(update={"description": "mine"}))
    seed_demo(client, tmp_path, "demo")
    assert harness.store.snapshot.spec.plan("demo").description == "mine"  # type: ignore[union-attr]

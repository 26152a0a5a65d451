"""`tollway demo-seed` (compose/up.sh seeds the compose stack with it) against the admin app over fakes."""

from __future__ import annotations

from pathlib import Path

from control_plane.launcher.demo_seed import DEMO_KEY_FILE, DEMO_TENANT
from tests.support.cli import run
from tests.support.fakes import AdminHarness


def test_demo_seed_registers_the_model_and_prints_only_a_reusable_key(
    harness: AdminHarness, tmp_path: Path
) -> None:
    args = ("demo-seed", "--upstream-url", "http://mock-upstream:8000/v1", "--state-dir", str(tmp_path))
    secret = run(*args).strip()
    assert secret.startswith("tw-")
    assert (tmp_path / DEMO_KEY_FILE).read_text().strip() == secret
    assert (tmp_path / DEMO_KEY_FILE).stat().st_mode & 0o777 == 0o600
    spec = harness.store.snapshot.spec
    (model,) = [m for m in spec.models if m.name == "demo"]
    assert [str(b.base_url) for b in model.backends] == ["http://mock-upstream:8000/v1"]
    assert [t.id for t in spec.tenants] == [DEMO_TENANT]
    version = harness.store.snapshot.version
    assert run(*args).strip() == secret  # idempotent: the same key, nothing rewritten
    assert harness.store.snapshot.version == version

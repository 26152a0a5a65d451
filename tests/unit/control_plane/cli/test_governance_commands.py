"""plans, tenants, prices, keys and usage commands against the real admin app over in-memory fakes."""

from pathlib import Path

import orjson
from typer.testing import CliRunner

from control_plane.cli import main
from control_plane.keys import usage_field
from control_plane.model import Backend, Model, hash_secret
from tests.support.cli import run, run_failing
from tests.support.fakes import AdminHarness


def _base(harness: AdminHarness, tmp_path: Path) -> None:
    harness.admin_client().put_model(
        Model(name="llama", backends=(Backend(name="b", base_url="http://h:1/v1"),))
    )
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: gold\nlimits: {requests_per_minute: 60}\nbilling: {kind: per_token}\n")
    assert "added: plan gold" in run("plans", "add", "-f", str(plan))
    assert "added: tenant acme on plan gold" in run(
        "tenants", "add", "acme", "--plan", "gold", "--name", "Acme"
    )


def test_plans_tenants_prices(harness: AdminHarness, tmp_path: Path) -> None:
    _base(harness, tmp_path)
    assert "requests_per_minute=60" in run("plans", "list")
    listed = orjson.loads(run("tenants", "list", "--json"))
    assert [(t["id"], t["status"]) for t in listed["tenants"]] == [("acme", "active")]
    run("tenants", "add", "acme", "--plan", "gold", "--suspended")
    assert harness.store.snapshot.spec.tenant("acme").status == "suspended"  # type: ignore[union-attr]
    added = run("prices", "add", "--model", "llama", "--input", "0.15", "--output", "0.6",
                "--cached-input", "0.075", "--from", "2026-01-01T00:00:00+00:00")  # fmt: skip
    assert "added: price of llama" in added
    price = harness.store.snapshot.spec.prices[0]
    assert (price.input_per_1m_micro, price.output_per_1m_micro, price.cached_input_per_1m_micro) == (
        150_000, 600_000, 75_000)  # fmt: skip
    assert "0.15" in run("prices", "list")
    assert "removed" in run("prices", "rm", "--model", "llama", "--from", "2026-01-01T00:00:00+00:00")
    assert "at most 6 decimals" in run_failing("prices", "add", "--model", "llama", "--input", "0.0000001",
                                               "--output", "1")  # fmt: skip
    in_use = run_failing("plans", "rm", "gold")
    assert "422: plan 'gold' is used by tenant(s) 'acme'" in in_use
    run("tenants", "rm", "acme")
    assert orjson.loads(run("plans", "rm", "gold", "--json"))["changed"] is True


def test_keys_lifecycle_prints_the_secret_once(harness: AdminHarness, tmp_path: Path) -> None:
    _base(harness, tmp_path)
    result = CliRunner().invoke(
        main.app,
        ["keys", "create", "--tenant", "acme", "--name", "ci", "--models", "llama", "--expires-in", "30d"],
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("tw-")
    assert "cannot be shown again" in result.stderr
    key = next(iter(harness.records.keys.values()))
    assert key.secret_hash == hash_secret(secret)
    assert key.expires_at is not None
    assert (key.expires_at - key.created_at).days == 30
    listing = run("keys", "list", "--tenant", "acme")
    assert key.id in listing
    assert secret not in listing
    assert key.secret_hash not in listing
    assert secret[:8] + "…" in listing
    as_json = orjson.loads(run("keys", "list", "--json"))
    assert "secret_hash" not in as_json["keys"][0]
    rotated = CliRunner().invoke(main.app, ["keys", "rotate", key.id, "--grace", "60s", "--json"])
    assert rotated.exit_code == 0, rotated.output
    body = orjson.loads(rotated.stdout)
    assert body["previous"]["expires_at"].startswith("2026-11-21T12:01:00")
    assert body["secret"] != secret
    assert "revoked: " + body["key"]["id"] in run("keys", "revoke", body["key"]["id"])
    assert "is revoked" in run_failing("keys", "rotate", body["key"]["id"], "--grace", "1m")
    assert "not a duration" in run_failing("keys", "rotate", key.id, "--grace", "soon")
    assert "404" in run_failing("keys", "revoke", "key_0000000000000000")


def test_usage_formats(harness: AdminHarness, tmp_path: Path) -> None:
    _base(harness, tmp_path)
    version = "2026-01-01T00:00:00+00:00"
    harness.usage.usage[("acme", "2026-11")] = {
        usage_field("llama", version, "requests"): 2,
        usage_field("llama", version, "prompt_tokens"): 100,
        usage_field("llama", version, "cost_pico"): 1_500_000_000_000,
    }
    csv = run("usage", "--tenant", "acme", "--month", "2026-11", "--format", "csv")
    assert csv.splitlines()[-1] == "total,,,,,,,,,1500000,1.50"
    assert (
        orjson.loads(run("usage", "--tenant", "acme", "--month", "2026-11", "--json"))["total_micro"]
        == 1_500_000
    )
    table = run("usage", "--tenant", "acme", "--month", "2026-11")
    assert "total for acme (gold, 2026-11): 1.50" in table
    assert "YYYY-MM" in run_failing("usage", "--tenant", "acme", "--month", "nov")


def test_apply_sends_only_the_sections_in_the_file(harness: AdminHarness, tmp_path: Path) -> None:
    _base(harness, tmp_path)
    models = tmp_path / "models.yaml"
    models.write_text("models:\n  - name: qwen\n    backends: [{name: b, base_url: 'http://h:2/v1'}]\n")
    assert "(1 models)" in run("apply", "-f", str(models))
    spec = harness.store.snapshot.spec
    assert ([m.name for m in spec.models], [t.id for t in spec.tenants]) == (["qwen"], ["acme"])
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text("tenants:\n  - {id: beta, plan: gold}\n")
    run("apply", "-f", str(tenants))
    assert [t.id for t in harness.store.snapshot.spec.tenants] == ["beta"]
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    assert "none of the sections" in run_failing("apply", "-f", str(empty))

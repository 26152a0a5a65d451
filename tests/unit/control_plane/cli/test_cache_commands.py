"""`tollway cache stats|purge`, and cache policies through `plans add -f` / `apply -f`, against the real
admin app over in-memory fakes."""

from pathlib import Path

import orjson

from control_plane.model import Backend, CacheLayer, HitBilling, Model
from tests.support.cli import run, run_failing
from tests.support.fakes import AdminHarness


def _seed(harness: AdminHarness, tmp_path: Path) -> None:
    harness.admin_client().put_model(
        Model(name="llama", backends=(Backend(name="b", base_url="http://h:1/v1"),))
    )
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: gold\nbilling: {kind: per_token}\n"
        "cache: {enabled: true, layers: [exact, semantic], similarity_threshold: 0.93,\n"
        "        hit_billing: cache_price}\n"
    )
    assert "added: plan gold" in run("plans", "add", "-f", str(plan))
    run("tenants", "add", "acme", "--plan", "gold")
    run("tenants", "add", "beta", "--plan", "gold")


def test_plans_add_and_apply_set_cache_policies(harness: AdminHarness, tmp_path: Path) -> None:
    _seed(harness, tmp_path)
    spec = harness.store.snapshot.spec
    plan_cache = spec.plan("gold").cache  # type: ignore[union-attr]
    assert plan_cache is not None
    assert (plan_cache.enabled, plan_cache.similarity_threshold, plan_cache.hit_billing) == (
        True,
        0.93,
        HitBilling.CACHE_PRICE,
    )
    assert plan_cache.layers == (CacheLayer.EXACT, CacheLayer.SEMANTIC)
    document = tmp_path / "tenants.yaml"
    document.write_text(
        "tenants:\n"
        "  - {id: acme, plan: gold, cache: {namespace: faq, ttl_s: 120}}\n"
        "  - {id: beta, plan: gold, cache: {enabled: false}}\n"
    )
    assert "applied" in run("apply", "-f", str(document))
    spec = harness.store.snapshot.spec
    assert spec.tenant("acme").cache.namespace == "faq"  # type: ignore[union-attr]
    assert spec.tenant("beta").cache.enabled is False  # type: ignore[union-attr]
    listed = orjson.loads(run("tenants", "list", "--json"))["tenants"]
    assert [t["cache"]["ttl_s"] for t in listed] == [120, None]


def test_stats_of_one_tenant_and_of_all(harness: AdminHarness, tmp_path: Path) -> None:
    _seed(harness, tmp_path)
    harness.cache.counters["acme"] = {
        "hits_exact": 2, "hits_semantic": 1, "misses": 1, "bypasses": 4, "stored": 1,
        "saved_prompt_tokens": 1000, "saved_completion_tokens": 200, "saved_cost_pico": 12_345_600_999_999,
    }  # fmt: skip
    lines = run("cache", "stats", "acme").splitlines()
    assert lines[0].split() == [
        "TENANT", "HITS", "EXACT", "SEMANTIC", "MISSES", "BYPASSES", "HIT", "RATE", "STORED",
        "SAVED", "TOKENS", "SAVED", "COST",
    ]  # fmt: skip
    assert lines[1].split() == ["acme", "3", "2", "1", "1", "4", "75.0%", "1", "1200", "12.3456"]
    assert len(lines) == 2
    every = run("cache", "stats").splitlines()
    assert [line.split()[0] for line in every[1:]] == ["acme", "beta"]
    assert every[2].split()[1:] == ["0", "0", "0", "0", "0", "0.0%", "0", "0", "0.00"]
    as_json = orjson.loads(run("cache", "stats", "acme", "--json"))
    assert (as_json["hits"], as_json["hit_rate"], as_json["saved_cost_micro"]) == (3, 0.75, 12_345_600)
    assert [s["tenant"] for s in orjson.loads(run("cache", "stats", "--json"))["tenants"]] == ["acme", "beta"]


def test_stats_of_an_unknown_tenant_fail(harness: AdminHarness, tmp_path: Path) -> None:
    _seed(harness, tmp_path)
    assert "404: tenant 'nope' is not in the registry" in run_failing("cache", "stats", "nope")


def test_reset_stats_of_a_tenant(harness: AdminHarness, tmp_path: Path) -> None:
    _seed(harness, tmp_path)
    harness.cache.counters["acme"] = {"hits_exact": 5, "misses": 1}
    assert "reset: cache counters of tenant acme" in run("cache", "reset-stats", "acme")
    assert orjson.loads(run("cache", "stats", "acme", "--json"))["hits"] == 0
    assert "404" in run_failing("cache", "reset-stats", "nope")


def test_purge_a_tenant_or_a_namespace(harness: AdminHarness, tmp_path: Path) -> None:
    _seed(harness, tmp_path)
    assert "purged: cache namespace t.acme (generation 1)" in run("cache", "purge", "--tenant", "acme")
    result = orjson.loads(run("cache", "purge", "--tenant", "acme", "--json"))
    assert result == {"tenant": "acme", "namespace": "t.acme", "generation": 2}
    assert "purged: cache namespace s.faq (generation 1)" in run("cache", "purge", "--namespace", "faq")
    assert harness.cache.purged == ["t.acme", "t.acme", "s.faq"]


def test_purge_needs_exactly_one_target(harness: AdminHarness, tmp_path: Path) -> None:
    _seed(harness, tmp_path)
    assert "exactly one of --tenant or --namespace" in run_failing("cache", "purge")
    assert "exactly one of --tenant or --namespace" in run_failing(
        "cache", "purge", "--tenant", "acme", "--namespace", "faq"
    )
    assert "404" in run_failing("cache", "purge", "--tenant", "nope")
    assert "422" in run_failing("cache", "purge", "--namespace", "Bad.Name")
    assert harness.cache.purged == []

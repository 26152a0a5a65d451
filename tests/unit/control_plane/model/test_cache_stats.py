"""CacheStats: one counter per CACHE_STAT_FIELDS entry, and the derived figures."""

from control_plane.keys import CACHE_STAT_FIELDS
from control_plane.model import CacheStats


def test_the_counters_are_exactly_the_cache_stat_fields() -> None:
    assert set(CacheStats.model_fields) - {"tenant"} == set(CACHE_STAT_FIELDS)
    assert set(CacheStats.model_computed_fields) == {"hits", "hit_rate", "saved_cost_micro"}


def test_derived_figures() -> None:
    stats = CacheStats(
        tenant="a", hits_exact=2, hits_semantic=1, misses=1, bypasses=50, saved_cost_pico=1_999_999
    )
    assert stats.hits == 3
    assert stats.hit_rate == 0.75  # bypasses are not lookups
    assert stats.saved_cost_micro == 1  # rounded down
    assert CacheStats(tenant="a", bypasses=5).hit_rate == 0.0


def test_a_dump_validates_back() -> None:
    stats = CacheStats(tenant="a", hits_exact=2, misses=2, saved_cost_pico=5_000_000)
    dumped = stats.model_dump(mode="json")
    assert (dumped["hits"], dumped["hit_rate"], dumped["saved_cost_micro"]) == (2, 0.5, 5)
    assert CacheStats.model_validate(dumped) == stats

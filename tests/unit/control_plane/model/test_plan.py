"""Plan limits and prices stay inside what Envoy and Redis can hold (found by fuzzing the admin API:
a `requests_per_minute` of 10**40 was accepted and could not be translated for Envoy)."""

import pytest
from pydantic import ValidationError

from control_plane.model import Limits, Price
from control_plane.model.plan import MAX_COUNT, MAX_REQUESTS_PER_MINUTE


def test_requests_per_minute_fits_envoys_uint32_bucket() -> None:
    assert Limits(requests_per_minute=MAX_REQUESTS_PER_MINUTE).requests_per_minute == 2**32 - 1
    with pytest.raises(ValidationError, match="less than or equal to 4294967295"):
        Limits(requests_per_minute=2**32)


@pytest.mark.parametrize("field", ["tokens_per_minute", "daily_tokens", "monthly_budget_micro"])
def test_counts_stay_exact_in_lua(field: str) -> None:
    assert getattr(Limits.model_validate({field: MAX_COUNT}), field) == MAX_COUNT
    with pytest.raises(ValidationError):
        Limits.model_validate({field: MAX_COUNT + 1})


def test_prices_keep_a_requests_cost_inside_int64() -> None:
    base = {"model": "m", "effective_from": "2026-01-01T00:00:00Z"}
    with pytest.raises(ValidationError):
        Price.model_validate({**base, "output_per_1m_micro": 10**11 + 1})
    price = Price.model_validate({**base, "output_per_1m_micro": 10**11})
    assert 10_000_000 * price.output_per_1m_micro < 2**63  # 10M tokens at the highest price

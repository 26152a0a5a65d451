"""Every traffic knob is validated: bad combinations are refused with a readable reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from control_plane.model import (
    Backend,
    HealthCheck,
    LbPolicy,
    LoadBalancing,
    Model,
    OutlierDetection,
    RegistrySpec,
    RetryPolicy,
    Timeouts,
    TrafficPolicy,
    UpstreamCredential,
    mask_secret,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _model(**fields: object) -> Model:
    return Model.model_validate(
        {"name": "m", "backends": [{"name": "a", "base_url": "http://10.0.0.1:8000/v1"}], **fields}
    )


def test_defaults_suit_long_generations_and_small_pools() -> None:
    traffic = TrafficPolicy()
    assert traffic.load_balancing.policy is LbPolicy.LEAST_REQUEST
    assert traffic.retry.attempts == 2
    assert traffic.retry.retriable_status_codes == (429, 503)
    assert traffic.retry.honor_retry_after is True
    assert traffic.timeouts.response_s is None  # no cap on a non-streamed generation
    assert traffic.timeouts.first_byte_s == 30.0
    assert traffic.outlier_detection.max_ejection_percent == 100
    assert traffic.health_check is None


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: LoadBalancing(policy=LbPolicy.RING_HASH), "ring_hash needs hash_header"),
        (lambda: LoadBalancing(hash_header="x-session"), "only used by ring_hash"),
        (
            lambda: LoadBalancing(policy=LbPolicy.RING_HASH, hash_header="x-envoy-foo"),
            "managed by the gateway",
        ),
        (lambda: LoadBalancing(policy=LbPolicy.RING_HASH, hash_header="X-Session"), "String should match"),
        (lambda: RetryPolicy(backoff_base_ms=500, backoff_max_ms=100), "backoff_max_ms"),
        (lambda: RetryPolicy(retriable_status_codes=(429, 429)), "twice"),
        (lambda: RetryPolicy(retriable_status_codes=(200,)), "greater than or equal to 400"),
        (lambda: RetryPolicy(attempts=11), "less than or equal to 10"),
        (lambda: OutlierDetection(base_ejection_s=60, max_ejection_s=30), "max_ejection_s"),
        (lambda: HealthCheck(interval_s=1, timeout_s=2), "timeout_s"),
        (lambda: Timeouts(first_byte_s=0), "greater than 0"),
        (lambda: TrafficPolicy.model_validate({"retry": {"tries": 3}}), "Extra inputs"),
    ],
)
def test_invalid_knobs_are_refused(build: object, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        build()  # type: ignore[operator]


def test_plain_upstream_headers_cannot_carry_keys_or_gateway_headers() -> None:
    assert _model(upstream_headers={"openai-organization": "org-1"}).upstream_headers == {
        "openai-organization": "org-1"
    }
    for header in ("authorization", "x-api-key", "x-tollway-model", "x-envoy-retry-on", "host"):
        with pytest.raises(ValidationError, match="cannot be a plain upstream header"):
            _model(upstream_headers={header: "v"})
    for value in ("a\nb", "100%", "%DOWNSTREAM_REMOTE_ADDRESS%"):
        with pytest.raises(ValidationError, match="without line breaks or '%'"):
            _model(upstream_headers={"openai-beta": value})


def test_credentials_must_exist_and_not_collide() -> None:
    key = UpstreamCredential(name="key", sealed_value="s", updated_at=NOW)
    other = UpstreamCredential(name="other", sealed_value="s", updated_at=NOW)
    model = _model(upstream_credentials=["key"])
    assert RegistrySpec(models=(model,), credentials=(key,)).credential("key") == key
    with pytest.raises(ValidationError, match="uses credential 'missing', which does not exist"):
        RegistrySpec(models=(_model(upstream_credentials=["missing"]),))
    with pytest.raises(ValidationError, match="both set header 'authorization'"):
        RegistrySpec(models=(_model(upstream_credentials=["key", "other"]),), credentials=(key, other))
    with pytest.raises(ValidationError, match="listed twice"):
        _model(upstream_credentials=["key", "key"])
    with pytest.raises(ValidationError, match="managed by the gateway"):
        UpstreamCredential(name="bad", header="host", sealed_value="s", updated_at=NOW)


def test_priorities_count_distinct_levels() -> None:
    backends = [
        Backend(name="a", base_url="http://10.0.0.1/v1"),
        Backend(name="b", base_url="http://10.0.0.2/v1", priority=3),
        Backend(name="c", base_url="http://10.0.0.3/v1", priority=3),
    ]
    assert Model(name="m", backends=tuple(backends)).priorities == 2


def test_mask_secret_shows_at_most_four_characters_of_long_values() -> None:
    assert mask_secret("sk-0123456789abcdef") == "…cdef"
    assert mask_secret("short-secret") == "…"

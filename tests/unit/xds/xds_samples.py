"""Registry snapshots shared by the xds tests (one per interesting translation case)."""

from __future__ import annotations

from datetime import UTC, datetime

from control_plane.model import (
    Backend,
    CircuitBreakers,
    HealthCheck,
    LbPolicy,
    Limits,
    LoadBalancing,
    Model,
    OutlierDetection,
    Plan,
    RegistrySpec,
    RetryCondition,
    RetryPolicy,
    Snapshot,
    Tenant,
    Timeouts,
    TrafficPolicy,
    UpstreamCredential,
)

__all__ = ["SAMPLES", "model", "open_sample_secret", "snapshot"]


def model(name: str, *backends: Backend, idle_s: float = 300.0) -> Model:
    return Model(name=name, backends=backends, traffic=TrafficPolicy(timeouts=Timeouts(idle_s=idle_s)))


def open_sample_secret(credential: UpstreamCredential) -> str:
    """Stands in for xds's SecretBox: the samples' sealed values are not real ciphertext."""
    return f"clear-{credential.sealed_value}"


_SEALED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def snapshot(version: int, *models: Model) -> Snapshot:
    return Snapshot(version=version, spec=RegistrySpec(models=models))


SAMPLES: dict[str, Snapshot] = {
    "empty": snapshot(1),
    "one_ip_model": snapshot(
        2,
        model("llama-3-8b", Backend(name="gpu-a", base_url="http://10.0.0.5:8000/v1", connect_timeout_s=2.5)),
    ),
    "priorities_and_weights": snapshot(
        3,
        model(
            "mixtral",
            Backend(name="main-b", base_url="http://10.0.0.7:8000/v1", weight=3),
            Backend(name="main-a", base_url="http://10.0.0.6:8000/v1", weight=1, connect_timeout_s=7.0),
            Backend(name="spill", base_url="http://[fd00::9]:8000/v1", priority=2, weight=5),
            Backend(name="local", base_url="http://localhost:8001/v1", priority=5),
        ),
    ),
    "dns_https_with_ca_file": snapshot(
        4,
        model(
            "gpt-4o",
            Backend(
                name="openai",
                provider="openai",
                base_url="https://api.openai.com/v1",
                ca_file="/etc/tollway/openai-ca.pem",
            ),
            idle_s=120.0,
        ),
        model(
            "vllm-tls",
            Backend(name="tls-a", base_url="https://127.0.0.1:8443"),
            Backend(name="tls-b", base_url="https://localhost:8444"),
        ),
    ),
    # Two tenants: `acme` has 90 requests per minute (a burst of 90, 2 per second), `hobby` no RPM limit.
    "tenant_rate_limits": Snapshot(
        version=6,
        spec=RegistrySpec(
            models=(model("llama-3-8b", Backend(name="gpu-a", base_url="http://10.0.0.5:8000/v1")),),
            plans=(
                Plan(name="team", limits=Limits(requests_per_minute=90, tokens_per_minute=100_000)),
                Plan(name="hobby", limits=Limits(daily_tokens=10_000)),
            ),
            tenants=(Tenant(id="hobby", plan="hobby"), Tenant(id="acme", plan="team")),
        ),
    ),
    "names_with_slashes": snapshot(
        5,
        model("meta-llama/Llama-3.1-8B-Instruct", Backend(name="a", base_url="http://10.1.0.1:8000/v1")),
        model("org/team:model@v2", Backend(name="b", base_url="http://vllm.internal:8000")),
    ),
    # Every traffic knob off its default, two credentials (one in a custom header) and a plain header.
    "traffic_policy_and_credentials": Snapshot(
        version=7,
        spec=RegistrySpec(
            models=(
                Model(
                    name="qwen",
                    backends=(
                        Backend(name="pool-a", base_url="http://10.2.0.1:8000/v1"),
                        Backend(name="pool-b", base_url="http://10.2.0.2:8000/v1", weight=2),
                        Backend(name="provider", base_url="http://10.9.0.1:8000/v1", priority=1),
                    ),
                    traffic=TrafficPolicy(
                        load_balancing=LoadBalancing(policy=LbPolicy.RING_HASH, hash_header="x-session-id"),
                        retry=RetryPolicy(
                            attempts=3,
                            retry_on=(RetryCondition.CONNECT_FAILURE, RetryCondition.GATEWAY_ERROR),
                            retriable_status_codes=(429,),
                            honor_retry_after=False,
                            other_host=False,
                            tries_per_priority=2,
                            budget_percent=50.0,
                        ),
                        timeouts=Timeouts(first_byte_s=5.0, response_s=600.0, idle_s=60.0),
                        outlier_detection=OutlierDetection(consecutive_5xx=5, base_ejection_s=30.0),
                        circuit_breakers=CircuitBreakers(max_requests=64, max_pending_requests=16),
                        health_check=HealthCheck(path="/health", interval_s=3.0, timeout_s=1.0),
                    ),
                    upstream_credentials=("provider-key", "provider-org"),
                    upstream_headers={"openai-beta": "assistants=v2"},
                ),
            ),
            credentials=(
                UpstreamCredential(name="provider-key", sealed_value="key", updated_at=_SEALED_AT),
                UpstreamCredential(
                    name="provider-org",
                    header="x-org-token",
                    prefix="",
                    sealed_value="org",
                    updated_at=_SEALED_AT,
                ),
                UpstreamCredential(name="unused", sealed_value="never-opened", updated_at=_SEALED_AT),
            ),
        ),
    ),
}

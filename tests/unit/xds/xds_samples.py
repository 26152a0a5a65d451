"""Registry snapshots shared by the xds tests (one per interesting translation case)."""

from __future__ import annotations

from control_plane.model import (
    Backend,
    Limits,
    Model,
    Plan,
    RegistrySpec,
    Snapshot,
    Tenant,
    Timeouts,
    TrafficPolicy,
)

__all__ = ["SAMPLES", "model", "snapshot"]


def model(name: str, *backends: Backend, idle_s: float = 300.0) -> Model:
    return Model(name=name, backends=backends, traffic=TrafficPolicy(timeouts=Timeouts(idle_s=idle_s)))


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
}

"""Self-registration is the model's decision: off by default, and bounded when on."""

from __future__ import annotations

from datetime import UTC, datetime

from control_plane.model import Backend, Model, RegistrationPolicy, registration_problems

STATIC = Backend(name="static", base_url="http://10.0.0.1:8000/v1")
POLICY = RegistrationPolicy(allowed_networks=("10.0.0.0/8",), max_weight=10, min_priority=1)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _pod(**fields: object) -> Backend:
    return Backend.model_validate(
        {"name": "pod", "base_url": "http://10.0.3.7:8000/v1", "priority": 1, **fields}
    )


def test_a_model_without_a_policy_refuses_every_registration() -> None:
    [problem] = registration_problems(Model(name="m", backends=(STATIC,)), _pod())
    assert "does not accept self-registered backends" in problem


def test_a_backend_inside_the_policy_is_accepted() -> None:
    assert registration_problems(Model(name="m", backends=(STATIC,), registration=POLICY), _pod()) == []


def test_address_weight_and_priority_are_bounded() -> None:
    model = Model(name="m", backends=(STATIC,), registration=POLICY)
    assert (
        "outside the model's allowed networks"
        in registration_problems(model, _pod(base_url="http://169.254.169.254/v1"))[0]
    )
    assert (
        "outside the model's allowed networks"
        in registration_problems(model, _pod(base_url="http://localhost:8000/v1"))[0]
    )
    assert "weight 11 is above 10" in registration_problems(model, _pod(weight=11))[0]
    assert "priority 0 is below 1" in registration_problems(model, _pod(priority=0))[0]


def test_models_with_credentials_tls_or_dns_backends_refuse_registrations() -> None:
    with_key = Model(name="m", backends=(STATIC,), registration=POLICY, upstream_credentials=("key",))
    assert "provider credential" in registration_problems(with_key, _pod())[0]
    dns = Model(
        name="m", backends=(Backend(name="s", base_url="http://vllm.internal:8000/v1"),), registration=POLICY
    )
    assert "TLS or DNS-named" in registration_problems(dns, _pod())[0]

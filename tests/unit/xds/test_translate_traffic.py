"""A model's traffic policy and credentials as Envoy sees them (cluster, routes, SDS secrets)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from envoy_data_plane.envoy.config.cluster.v3 import ClusterLbPolicy
from envoy_data_plane.envoy.config.route.v3 import Route, RouteAction
from envoy_data_plane.envoy.extensions.filters.http.credential_injector.v3 import CredentialInjector
from envoy_data_plane.envoy.extensions.http.injected_credentials.generic.v3 import Generic
from envoy_data_plane.envoy.extensions.retry.priority.previous_priorities.v3 import PreviousPrioritiesConfig
from envoy_data_plane.envoy.extensions.upstreams.http.v3 import HttpProtocolOptions

from control_plane.model import Backend, Model, RetryPolicy, TrafficPolicy
from tests.unit.xds.xds_samples import SAMPLES, open_sample_secret, snapshot
from xds.translate import Resources, TranslateOptions, translate

OPTIONS = TranslateOptions()


def _resources(name: str = "traffic_policy_and_credentials") -> Resources:
    return translate(SAMPLES[name], OPTIONS, open_sample_secret)


def _routes(resources: Resources) -> list[Route]:
    return resources.routes["tollway"].virtual_hosts[0].routes


def _action(route: Route) -> RouteAction:
    assert route.route is not None
    return route.route


def test_cluster_carries_lb_breakers_outlier_detection_and_health_check() -> None:
    cluster = _resources().clusters["model.qwen"]
    assert cluster.lb_policy == ClusterLbPolicy.RING_HASH
    assert cluster.circuit_breakers is not None
    [limits] = cluster.circuit_breakers.thresholds
    assert (limits.max_requests, limits.max_pending_requests, limits.max_connections) == (64, 16, 1024)
    assert limits.retry_budget is not None
    assert limits.retry_budget.budget_percent is not None
    assert limits.retry_budget.budget_percent.value == 50.0
    outlier = cluster.outlier_detection
    assert outlier is not None
    assert (outlier.consecutive_5xx, outlier.enforcing_consecutive_5xx, outlier.max_ejection_percent) == (
        5,
        100,
        100,
    )
    assert outlier.base_ejection_time == timedelta(seconds=30)
    assert outlier.enforcing_success_rate == 0
    [check] = cluster.health_checks
    assert check.http_health_check is not None
    assert check.http_health_check.path == "/health"
    assert check.interval == check.no_traffic_interval == timedelta(seconds=3)


def test_stream_and_plain_routes_differ_only_in_the_per_try_timeout() -> None:
    stream, plain = _routes(_resources())
    stream_policy, plain_policy = _action(stream).retry_policy, _action(plain).retry_policy
    assert stream_policy is not None
    assert plain_policy is not None
    assert stream_policy.per_try_timeout == timedelta(seconds=5)
    assert plain_policy.per_try_timeout == timedelta(seconds=600)
    assert stream_policy.retry_on == plain_policy.retry_on == "connect-failure,gateway-error"
    assert stream_policy.num_retries == 3
    assert stream_policy.retriable_status_codes == [429]
    assert stream_policy.rate_limited_retry_back_off is None  # honor_retry_after=False
    assert stream_policy.retry_host_predicate == []  # other_host=False
    assert stream_policy.retry_priority is not None
    priority = stream_policy.retry_priority.typed_config
    assert priority is not None
    unpacked = priority.unpack()
    assert isinstance(unpacked, PreviousPrioritiesConfig)
    assert unpacked.update_frequency == 2
    [hashing] = _action(stream).hash_policy
    assert hashing.header is not None
    assert hashing.header.header_name == "x-session-id"
    assert _action(stream).idle_timeout == timedelta(seconds=60)


def test_routes_strip_client_keys_and_add_plain_upstream_headers() -> None:
    for route in _routes(_resources()):
        assert {"authorization", "api-key", "x-api-key", "x-tollway-stream"} <= set(
            route.request_headers_to_remove
        )
        added = [(h.header.key, h.header.value) for h in route.request_headers_to_add if h.header]
        assert added == [("openai-beta", "assistants=v2")]


def test_credentials_become_sds_secrets_and_upstream_injectors() -> None:
    resources = _resources()
    assert set(resources.secrets) == {"credential.provider-key", "credential.provider-org"}  # not "unused"
    key = resources.secrets["credential.provider-key"].generic_secret
    assert key is not None
    assert key.secret is not None
    assert key.secret.inline_string == "Bearer clear-key"
    cluster = resources.clusters["model.qwen"]
    options = cluster.typed_extension_protocol_options[
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    protocol = options.unpack()
    assert isinstance(protocol, HttpProtocolOptions)
    injectors = [f.typed_config.unpack() for f in protocol.http_filters[:-1] if f.typed_config]
    assert protocol.http_filters[-1].name == "envoy.filters.http.upstream_codec"
    assert all(isinstance(i, CredentialInjector) and i.overwrite for i in injectors)
    generics = [
        i.credential.typed_config.unpack()
        for i in injectors
        if isinstance(i, CredentialInjector) and i.credential and i.credential.typed_config
    ]
    assert [(g.header, g.credential.name) for g in generics if isinstance(g, Generic) and g.credential] == [
        ("authorization", "credential.provider-key"),
        ("x-org-token", "credential.provider-org"),
    ]
    assert resources.consistency_problems() == []


def test_a_model_without_credentials_keeps_envoys_default_upstream_filters() -> None:
    resources = translate(SAMPLES["one_ip_model"], OPTIONS)
    assert resources.secrets == {}
    options = resources.clusters["model.llama-3-8b"].typed_extension_protocol_options
    protocol = next(iter(options.values())).unpack()
    assert isinstance(protocol, HttpProtocolOptions)
    assert protocol.http_filters == []


def test_a_sealed_credential_without_a_key_refuses_translation() -> None:
    with pytest.raises(ValueError, match="provider-key"):
        translate(SAMPLES["traffic_policy_and_credentials"], OPTIONS)


def test_zero_attempts_means_no_retry_policy_and_one_priority_no_priority_predicate() -> None:
    no_retry = Model(
        name="m",
        backends=(Backend(name="a", base_url="http://10.0.0.1:8000/v1"),),
        traffic=TrafficPolicy(retry=RetryPolicy(attempts=0)),
    )
    one_priority = no_retry.model_copy(update={"name": "n", "traffic": TrafficPolicy()})
    resources = translate(snapshot(1, no_retry, one_priority), OPTIONS)
    routes = {r.name: _action(r) for r in _routes(resources)}
    assert routes["m"].retry_policy is None
    n_policy = routes["n/stream"].retry_policy
    assert n_policy is not None
    assert n_policy.retry_priority is None
    assert n_policy.per_try_timeout == timedelta(seconds=30)
    assert routes["n"].retry_policy is not None
    assert routes["n"].retry_policy.per_try_timeout is None  # non-streamed answers: no cap by default

"""translate() for the per-tenant local rate limit and the backend-name response header."""

from __future__ import annotations

from datetime import timedelta

import pytest
from envoy_data_plane.envoy.config.core.v3 import HeaderValueOptionHeaderAppendAction
from envoy_data_plane.envoy.config.route.v3 import VirtualHost
from envoy_data_plane.envoy.extensions.filters.http.local_ratelimit.v3 import LocalRateLimit
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
)

from control_plane.model import Backend, Limits, Plan, RegistrySpec, Snapshot, Tenant
from tests.unit.xds.xds_samples import SAMPLES, model
from xds.translate import TranslateOptions, translate
from xds.translate.ratelimit import TenantRequestLimit, tenant_request_limits

OPTIONS = TranslateOptions()
FILTER = "envoy.filters.http.local_ratelimit"


def _registry(*tenants: Tenant, plans: tuple[Plan, ...] | None = None) -> Snapshot:
    default_plans = (
        Plan(name="team", limits=Limits(requests_per_minute=90)),
        Plan(name="open"),
    )
    spec = RegistrySpec(
        models=(model("m", Backend(name="gpu-a", base_url="http://10.0.0.1:8000/v1")),),
        plans=default_plans if plans is None else plans,
        tenants=tenants,
    )
    return Snapshot(version=1, spec=spec)


def _virtual_host(snapshot: Snapshot) -> VirtualHost:
    return translate(snapshot, OPTIONS).routes["tollway"].virtual_hosts[0]


def _limiter(snapshot: Snapshot) -> LocalRateLimit:
    packed = _virtual_host(snapshot).typed_per_filter_config[FILTER]
    limiter = packed.unpack()
    assert isinstance(limiter, LocalRateLimit)
    return limiter


@pytest.mark.parametrize(
    ("rpm", "per_second"), [(0, 1), (1, 1), (59, 1), (60, 1), (61, 2), (90, 2), (600, 10), (6001, 101)]
)
def test_bucket_is_a_minute_of_burst_refilled_every_second(rpm: int, per_second: int) -> None:
    limit = TenantRequestLimit("t", rpm)
    assert (limit.max_tokens, limit.tokens_per_fill) == (rpm, per_second)


def test_effective_limits_apply_tenant_overrides_over_the_plan() -> None:
    snapshot = _registry(
        Tenant(id="plain", plan="team"),
        Tenant(id="raised", plan="team", overrides=Limits(requests_per_minute=300)),
        Tenant(id="lifted", plan="team", overrides=Limits(requests_per_minute=None)),
        Tenant(id="other-dims", plan="team", overrides=Limits(daily_tokens=5)),
        Tenant(id="granted", plan="open", overrides=Limits(requests_per_minute=12)),
        Tenant(id="free", plan="open"),
    )
    assert tenant_request_limits(snapshot) == [
        TenantRequestLimit("granted", 12),
        TenantRequestLimit("other-dims", 90),
        TenantRequestLimit("plain", 90),
        TenantRequestLimit("raised", 300),
    ]


def test_virtual_host_limiter_has_one_descriptor_per_limited_tenant() -> None:
    limiter = _limiter(SAMPLES["tenant_rate_limits"])
    assert [(e.key, e.value) for d in limiter.descriptors for e in d.entries] == [("tenant", "acme")]
    bucket = limiter.descriptors[0].token_bucket
    assert bucket is not None
    assert (bucket.max_tokens, bucket.tokens_per_fill, bucket.fill_interval) == (90, 2, timedelta(seconds=1))


def test_limiter_keys_on_the_tenant_header_and_never_limits_without_a_rule() -> None:
    limiter = _limiter(SAMPLES["tenant_rate_limits"])
    [rate_limit] = limiter.rate_limits
    [action] = rate_limit.actions
    assert action.request_headers is not None
    assert (action.request_headers.header_name, action.request_headers.descriptor_key) == (
        "x-tollway-tenant",
        "tenant",
    )
    assert action.request_headers.skip_if_absent is False  # no header → no descriptor → default bucket
    default = limiter.token_bucket
    assert default is not None
    assert default.max_tokens == default.tokens_per_fill == 2**32 - 1
    assert limiter.always_consume_default_token_bucket is False
    for fraction in (limiter.filter_enabled, limiter.filter_enforced):
        assert fraction is not None
        assert fraction.default_value is not None
        assert fraction.default_value.numerator == 100
    assert [(h.header.key, h.header.value) for h in limiter.response_headers_to_add if h.header] == [
        ("retry-after", "1")
    ]


def test_no_limited_tenant_means_no_limiter_config() -> None:
    assert _virtual_host(_registry(Tenant(id="free", plan="open"))).typed_per_filter_config == {}
    assert _virtual_host(SAMPLES["one_ip_model"]).typed_per_filter_config == {}


def test_listener_filter_is_inert_and_tenant_changes_touch_only_the_routes() -> None:
    before = translate(_registry(Tenant(id="free", plan="open")), OPTIONS)
    after = translate(_registry(Tenant(id="free", plan="open"), Tenant(id="acme", plan="team")), OPTIONS)
    assert bytes(before.listeners["tollway_http"]) == bytes(after.listeners["tollway_http"])
    assert bytes(before.routes["tollway"]) != bytes(after.routes["tollway"])
    config = before.listeners["tollway_http"].filter_chains[0].filters[0].typed_config
    assert config is not None
    manager = config.unpack()
    assert isinstance(manager, HttpConnectionManager)
    names = [f.name for f in manager.http_filters]
    assert (
        names.index("envoy.filters.http.ext_proc")
        < names.index(FILTER)
        < names.index("envoy.filters.http.router")
    )
    packed = manager.http_filters[names.index(FILTER)].typed_config
    assert packed is not None
    listener_level = packed.unpack()
    assert isinstance(listener_level, LocalRateLimit)
    assert listener_level.token_bucket is None
    assert listener_level.descriptors == []


def test_endpoints_carry_their_backend_name_as_metadata() -> None:
    resources = translate(SAMPLES["priorities_and_weights"], OPTIONS)
    names = []
    for group in resources.endpoints["model.mixtral"].endpoints:
        for endpoint in group.lb_endpoints:
            assert endpoint.metadata is not None
            names.append(endpoint.metadata.filter_metadata["tollway"].to_dict()["backend"])
    assert names == ["main-a", "main-b", "spill", "local"]
    dns = translate(SAMPLES["dns_https_with_ca_file"], OPTIONS).clusters["model.gpt-4o"].load_assignment
    assert dns is not None
    metadata = dns.endpoints[0].lb_endpoints[0].metadata
    assert metadata is not None
    assert metadata.filter_metadata["tollway"].to_dict() == {"backend": "openai"}


def test_every_model_route_sets_the_backend_header_from_upstream_metadata() -> None:
    routes = translate(SAMPLES["names_with_slashes"], OPTIONS).routes["tollway"].virtual_hosts[0].routes
    assert len(routes) == 4  # a stream route and a non-stream route per model
    for route in routes:
        assert route.response_headers_to_remove == ["x-tollway-backend"]
        [added] = route.response_headers_to_add
        assert added.header is not None
        assert (added.header.key, added.header.value) == (
            "x-tollway-backend",
            "%UPSTREAM_METADATA(tollway:backend)%",
        )
        assert added.append_action == HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD

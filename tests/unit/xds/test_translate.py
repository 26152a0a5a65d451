"""Behaviour of translate(): what each registry shape turns into, checked on the messages themselves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from envoy_data_plane.envoy.config.cluster.v3 import ClusterDiscoveryType, ClusterLbPolicy
from envoy_data_plane.envoy.extensions.filters.http.ext_proc.v3 import (
    ExternalProcessor,
    ProcessingModeBodySendMode,
    ProcessingModeHeaderSendMode,
)
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
    ResponseMapper,
)
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import UpstreamTlsContext
from envoy_data_plane.envoy.extensions.upstreams.http.v3 import HttpProtocolOptions

from control_plane.model import GRPC_MESSAGE_HEADROOM_BYTES, Backend
from tests.unit.xds.xds_samples import SAMPLES, model, open_sample_secret, snapshot
from xds.resource_type import ResourceType
from xds.translate import Resources, TranslateOptions, translate
from xds.translate.cluster import SYSTEM_CA_FILE

OPTIONS = TranslateOptions(listener_host="0.0.0.0", listener_port=9090, max_request_bytes=4096)


def _hcm(resources: Resources) -> HttpConnectionManager:
    config = resources.listeners["tollway_http"].filter_chains[0].filters[0].typed_config
    assert config is not None
    manager = config.unpack()
    assert isinstance(manager, HttpConnectionManager)
    return manager


def _tls(resources: Resources, cluster: str) -> UpstreamTlsContext:
    socket = resources.clusters[cluster].transport_socket
    assert socket is not None
    assert socket.name == "envoy.transport_sockets.tls"
    assert socket.typed_config is not None
    context = socket.typed_config.unpack()
    assert isinstance(context, UpstreamTlsContext)
    return context


def test_empty_registry_still_has_the_listener_and_an_empty_route_config() -> None:
    resources = translate(SAMPLES["empty"], OPTIONS)
    assert dict(resources.clusters) == {}
    assert dict(resources.endpoints) == {}
    assert list(resources.listeners) == ["tollway_http"]
    assert resources.routes["tollway"].virtual_hosts[0].routes == []
    assert resources.consistency_problems() == []


def test_ip_backends_make_an_eds_cluster_with_one_load_assignment() -> None:
    resources = translate(SAMPLES["one_ip_model"], OPTIONS)
    cluster = resources.clusters["model.llama-3-8b"]
    assert cluster.type == ClusterDiscoveryType.EDS
    assert cluster.eds_cluster_config is not None
    assert cluster.eds_cluster_config.eds_config is not None
    assert cluster.eds_cluster_config.eds_config.ads is not None
    assert cluster.load_assignment is None
    assert cluster.lb_policy == ClusterLbPolicy.LEAST_REQUEST
    assert cluster.connect_timeout == timedelta(seconds=2.5)
    assert cluster.transport_socket is None
    assignment = resources.endpoints["model.llama-3-8b"]
    endpoint = assignment.endpoints[0].lb_endpoints[0].endpoint
    assert endpoint is not None
    assert endpoint.address is not None
    assert endpoint.address.socket_address is not None
    assert (endpoint.address.socket_address.address, endpoint.address.socket_address.port_value) == (
        "10.0.0.5",
        8000,
    )


def test_upstream_is_http1_only() -> None:
    cluster = translate(SAMPLES["one_ip_model"], OPTIONS).clusters["model.llama-3-8b"]
    options = cluster.typed_extension_protocol_options[
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    unpacked = options.unpack()
    assert isinstance(unpacked, HttpProtocolOptions)
    assert unpacked.explicit_http_config is not None
    assert unpacked.explicit_http_config.http_protocol_options is not None
    assert unpacked.explicit_http_config.http2_protocol_options is None


def test_priorities_become_dense_groups_weights_stay_and_connect_timeout_is_the_max() -> None:
    resources = translate(SAMPLES["priorities_and_weights"], OPTIONS)
    groups = resources.endpoints["model.mixtral"].endpoints
    summary = [
        (
            g.priority,
            [
                (e.endpoint.hostname, e.load_balancing_weight)
                for e in g.lb_endpoints
                if e.endpoint is not None
            ],
        )
        for g in groups
    ]
    assert summary == [
        (0, [("10.0.0.6", 1), ("10.0.0.7", 3)]),  # priority 0, sorted by backend name (main-a, main-b)
        (1, [("fd00::9", 5)]),  # registry priority 2
        (2, [("localhost", 1)]),  # registry priority 5
    ]
    assert resources.clusters["model.mixtral"].connect_timeout == timedelta(seconds=7)


def test_localhost_is_pinned_to_ipv4_loopback_and_stays_eds() -> None:
    resources = translate(SAMPLES["priorities_and_weights"], OPTIONS)
    local = resources.endpoints["model.mixtral"].endpoints[2].lb_endpoints[0].endpoint
    assert local is not None
    assert local.address is not None
    assert local.address.socket_address is not None
    assert local.address.socket_address.address == "127.0.0.1"
    assert resources.clusters["model.mixtral"].type == ClusterDiscoveryType.EDS


def test_a_dns_named_backend_makes_a_strict_dns_cluster_without_eds() -> None:
    resources = translate(SAMPLES["dns_https_with_ca_file"], OPTIONS)
    cluster = resources.clusters["model.gpt-4o"]
    assert cluster.type == ClusterDiscoveryType.STRICT_DNS
    assert cluster.load_assignment is not None
    assert cluster.load_assignment.cluster_name == "model.gpt-4o"
    assert "model.gpt-4o" not in resources.endpoints
    route = resources.routes["tollway"].virtual_hosts[0].routes[0]
    assert route.route is not None
    assert route.route.auto_host_rewrite is True


def test_https_backend_verifies_against_its_ca_file_with_sni() -> None:
    context = _tls(translate(SAMPLES["dns_https_with_ca_file"], OPTIONS), "model.gpt-4o")
    assert context.sni == "api.openai.com"
    assert context.common_tls_context is not None
    validation = context.common_tls_context.validation_context
    assert validation is not None
    assert validation.trusted_ca is not None
    assert validation.trusted_ca.filename == "/etc/tollway/openai-ca.pem"


def test_https_backend_without_ca_file_uses_the_system_bundle_and_checks_san() -> None:
    context = _tls(translate(SAMPLES["dns_https_with_ca_file"], OPTIONS), "model.vllm-tls")
    assert context.common_tls_context is not None
    validation = context.common_tls_context.validation_context
    assert validation is not None
    assert validation.trusted_ca is not None
    assert validation.trusted_ca.filename == SYSTEM_CA_FILE
    sans = [(m.san_type.name, m.matcher.exact) for m in validation.match_typed_subject_alt_names if m.matcher]
    assert sans == [("IP_ADDRESS", "127.0.0.1"), ("DNS", "localhost")]
    assert context.sni == "localhost"  # never an IP literal


def test_route_per_model_matches_prefix_and_model_header_and_rewrites_to_the_base_path() -> None:
    resources = translate(SAMPLES["names_with_slashes"], OPTIONS)
    routes = resources.routes["tollway"].virtual_hosts[0].routes
    assert [r.name for r in routes] == [
        "meta-llama/Llama-3.1-8B-Instruct/stream",
        "meta-llama/Llama-3.1-8B-Instruct",
        "org/team:model@v2/stream",
        "org/team:model@v2",
    ]
    stream_match = routes[0].match
    assert stream_match is not None
    assert [(h.name, h.present_match) for h in stream_match.headers][1:] == [("x-tollway-stream", True)]
    routes = routes[1::2]
    first = routes[0]
    assert first.match is not None
    assert first.match.prefix == "/v1/"
    header = first.match.headers[0]
    assert header.name == "x-tollway-model"
    assert header.string_match is not None
    assert header.string_match.exact == "meta-llama/Llama-3.1-8B-Instruct"
    assert first.route is not None
    assert first.route.cluster == "model.meta-llama/Llama-3.1-8B-Instruct"
    assert first.route.prefix_rewrite == "/v1/"
    assert first.route.timeout == timedelta(0)
    assert first.route.idle_timeout == timedelta(seconds=300)
    assert not first.route.auto_host_rewrite  # IP backend: keep the client's Host
    second = routes[1]
    assert second.route is not None
    assert second.route.prefix_rewrite == "/"
    assert set(resources.clusters) == {"model.meta-llama/Llama-3.1-8B-Instruct", "model.org/team:model@v2"}


def test_listener_uses_options_rds_over_ads_and_buffer_limit() -> None:
    resources = translate(SAMPLES["empty"], OPTIONS)
    listener = resources.listeners["tollway_http"]
    assert listener.address is not None
    assert listener.address.socket_address is not None
    assert listener.address.socket_address.address == "0.0.0.0"
    assert listener.address.socket_address.port_value == 9090
    assert listener.per_connection_buffer_limit_bytes == 4096
    manager = _hcm(resources)
    assert manager.stat_prefix == "tollway"
    assert manager.rds is not None
    assert manager.rds.route_config_name == "tollway"
    assert manager.rds.config_source is not None
    assert manager.rds.config_source.ads is not None
    assert manager.generate_request_id is True
    assert manager.always_set_request_id_in_response is True
    assert [f.name for f in manager.http_filters] == [
        "envoy.filters.http.ext_proc",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.router",
    ]


def test_ext_proc_filter_settings() -> None:
    options = TranslateOptions(
        ext_proc_cluster="procs", ext_proc_message_timeout_ms=1500, max_message_timeout_ms=9000
    )
    config = _hcm(translate(SAMPLES["empty"], options)).http_filters[0].typed_config
    assert config is not None
    ext_proc = config.unpack()
    assert isinstance(ext_proc, ExternalProcessor)
    assert ext_proc.grpc_service is not None
    assert ext_proc.grpc_service.envoy_grpc is not None
    assert ext_proc.grpc_service.envoy_grpc.cluster_name == "procs"
    # The default body limit (8 MiB) plus 1 MiB of envelope: a rewritten body comes back whole.
    assert ext_proc.grpc_service.envoy_grpc.max_receive_message_length == 17 * 1024 * 1024
    assert ext_proc.failure_mode_allow is False
    assert ext_proc.allow_mode_override is True
    assert ext_proc.message_timeout == timedelta(milliseconds=1500)
    assert ext_proc.max_message_timeout == timedelta(milliseconds=9000)
    assert ext_proc.status_on_error is not None
    assert ext_proc.status_on_error.code.value == 503
    mode = ext_proc.processing_mode
    assert mode is not None
    assert mode.request_header_mode == ProcessingModeHeaderSendMode.SEND
    assert mode.request_body_mode == ProcessingModeBodySendMode.BUFFERED
    assert mode.response_header_mode == ProcessingModeHeaderSendMode.SEND
    assert mode.response_body_mode == ProcessingModeBodySendMode.NONE
    assert mode.request_trailer_mode == ProcessingModeHeaderSendMode.SKIP
    assert mode.response_trailer_mode == ProcessingModeHeaderSendMode.SKIP


def _mapper_summary(mapper: ResponseMapper) -> tuple[str, str, str]:
    """(what the filter matches, error type, error code) of one local-reply mapper."""
    assert mapper.filter is not None
    match = mapper.filter.to_dict()
    if "extensionFilter" in match:
        matched = match["extensionFilter"]["typedConfig"]["expression"]
    elif "andFilter" in match:
        matched = " & ".join(sorted(next(iter(f)) for f in match["andFilter"]["filters"]))
    elif "orFilter" in match:
        either = match["orFilter"]["filters"]
        flags = either[0]["responseFlagFilter"]["flags"]
        matched = f"flags {flags} | {either[1]['extensionFilter']['typedConfig']['expression']}"
    else:
        matched = f"flags {match['responseFlagFilter'].get('flags', 'any')}"
    body = mapper.body_format_override
    assert body is not None
    assert body.content_type == "application/json"
    assert body.json_format is not None
    error = body.json_format.to_dict()["error"]
    assert error["param"] is None
    assert error["message"]
    return matched, error["type"], error["code"]


def test_local_replies_become_openai_json_only_when_envoy_made_them() -> None:
    """Flagged replies, ext_proc failures and 413 are rewritten; nothing that ImmediateResponse produces."""
    local_reply = _hcm(translate(SAMPLES["empty"], OPTIONS)).local_reply_config
    assert local_reply is not None
    assert [_mapper_summary(m) for m in local_reply.mappers] == [
        ("response.code_details.startsWith('ext_proc_error')", "server_error", "gateway_unavailable"),
        (
            "response.code_details == 'request_payload_too_large'",
            "invalid_request_error",
            "request_too_large",
        ),
        ("response.code_details == 'response_payload_too_large'", "server_error", "response_too_large"),
        (
            "flags ['RL'] | response.code_details == 'local_rate_limited'",
            "rate_limit_error",
            "rate_limited",
        ),
        ("responseFlagFilter & statusCodeFilter", "server_error", "upstream_unavailable"),
        ("flags any", "invalid_request_error", "%RESPONSE_CODE_DETAILS%"),
    ]
    # Envoy's own reply text names hosts and socket errors: it must never reach a client.
    assert "%LOCAL_REPLY_BODY%" not in str(local_reply.to_dict())


def test_output_is_sorted_by_name_whatever_the_registry_order() -> None:
    a = model("b-model", Backend(name="x", base_url="http://10.0.0.1:1/v1"))
    b = model("a-model", Backend(name="x", base_url="http://10.0.0.2:1/v1"))
    one, two = translate(snapshot(1, a, b), OPTIONS), translate(snapshot(1, b, a), OPTIONS)
    assert list(one.clusters) == ["model.a-model", "model.b-model"]
    for resource_type in ResourceType:
        assert [bytes(r) for r in one.of_type(resource_type).values()] == [
            bytes(r) for r in two.of_type(resource_type).values()
        ]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_translates_consistently(name: str) -> None:
    assert translate(SAMPLES[name], OPTIONS, open_sample_secret).consistency_problems() == []


def test_consistency_check_reports_dangling_references() -> None:
    good = translate(SAMPLES["priorities_and_weights"], OPTIONS)
    no_eds = Resources(clusters=good.clusters, listeners=good.listeners, routes=good.routes)
    assert no_eds.consistency_problems() == ["EDS cluster 'model.mixtral' has no load assignment"]
    no_clusters = Resources(listeners=good.listeners, routes=good.routes, endpoints=good.endpoints)
    problems = no_clusters.consistency_problems()
    assert "route 'mixtral' points to unknown cluster 'model.mixtral'" in problems
    assert "load assignment 'model.mixtral' has no EDS cluster" in problems
    no_routes = Resources(clusters=good.clusters, endpoints=good.endpoints, listeners=good.listeners)
    assert no_routes.consistency_problems() == ["listener 'tollway_http' uses unknown route config 'tollway'"]


def test_resources_are_read_only() -> None:
    resources = translate(SAMPLES["empty"], OPTIONS)
    with pytest.raises(TypeError):
        resources.clusters["x"] = resources.clusters.get("y")  # type: ignore[index]


def test_one_setting_sizes_the_listener_buffer_and_the_ext_proc_messages() -> None:
    options = TranslateOptions(max_request_bytes=20_000_000)
    listener = translate(SAMPLES["empty"], options).listeners["tollway_http"]
    assert listener.per_connection_buffer_limit_bytes == 20_000_000
    ext_proc = _hcm(translate(SAMPLES["empty"], options)).http_filters[0].typed_config
    assert ext_proc is not None
    grpc_service = ext_proc.unpack().grpc_service
    assert grpc_service.envoy_grpc.max_receive_message_length == 40_000_000 + GRPC_MESSAGE_HEADROOM_BYTES

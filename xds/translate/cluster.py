"""Model → one Envoy cluster: EDS for IP backends, STRICT_DNS for named ones; HTTP/1.1; TLS for https;
the model's load balancing, circuit breakers, outlier detection, health check and credentials."""

from __future__ import annotations

import ipaddress

from envoy_data_plane.envoy.config.cluster.v3 import (
    CircuitBreakers,
    CircuitBreakersThresholds,
    CircuitBreakersThresholdsRetryBudget,
    Cluster,
    ClusterDiscoveryType,
    ClusterDnsLookupFamily,
    ClusterEdsClusterConfig,
    ClusterLbPolicy,
    OutlierDetection,
)
from envoy_data_plane.envoy.config.core.v3 import (
    DataSource,
    HealthCheck,
    HealthCheckHttpHealthCheck,
    Http1ProtocolOptions,
    TransportSocket,
    UpstreamHttpProtocolOptions,
)
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import (
    CertificateValidationContext,
    CommonTlsContext,
    SubjectAltNameMatcher,
    SubjectAltNameMatcherSanType,
    TlsParameters,
    TlsParametersTlsProtocol,
    UpstreamTlsContext,
)
from envoy_data_plane.envoy.extensions.upstreams.http.v3 import (
    HttpProtocolOptions,
    HttpProtocolOptionsExplicitHttpConfig,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.envoy.type.v3 import Percent
from envoy_data_plane.google.protobuf import Any

from control_plane.model import Backend, LbPolicy, Model, RegistrySpec, TrafficPolicy
from xds.translate.config_source import ads_config_source, seconds
from xds.translate.endpoint import load_assignment, model_cluster_name, uses_dns
from xds.translate.secret import credential_filters

__all__ = ["SYSTEM_CA_FILE", "model_cluster"]

SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"

_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"


_LB_POLICIES = {
    LbPolicy.LEAST_REQUEST: ClusterLbPolicy.LEAST_REQUEST,
    LbPolicy.ROUND_ROBIN: ClusterLbPolicy.ROUND_ROBIN,
    LbPolicy.RING_HASH: ClusterLbPolicy.RING_HASH,
}


def model_cluster(model: Model, spec: RegistrySpec) -> Cluster:
    """The cluster of `model`; its EDS resource (if any) comes from `endpoint.load_assignment`."""
    dns = uses_dns(model)
    traffic = model.traffic
    options = _http1_options(auto_sni=dns)
    options.http_filters = credential_filters(model, spec)
    cluster = Cluster(
        name=model_cluster_name(model),
        connect_timeout=seconds(max(b.connect_timeout_s for b in model.backends)),
        lb_policy=_LB_POLICIES[traffic.load_balancing.policy],
        typed_extension_protocol_options={_HTTP_PROTOCOL_OPTIONS: Any.pack(options)},
        circuit_breakers=_circuit_breakers(traffic),
        outlier_detection=_outlier_detection(traffic),
        health_checks=_health_checks(traffic),
    )
    if dns:
        cluster.type = ClusterDiscoveryType.STRICT_DNS
        cluster.dns_lookup_family = ClusterDnsLookupFamily.V4_PREFERRED
        cluster.load_assignment = load_assignment(model)
    else:
        cluster.type = ClusterDiscoveryType.EDS
        cluster.eds_cluster_config = ClusterEdsClusterConfig(eds_config=ads_config_source())
    if model.uses_tls:
        cluster.transport_socket = _tls_transport_socket(model, auto_sni=dns)
    return cluster


def _circuit_breakers(traffic: TrafficPolicy) -> CircuitBreakers:
    """One threshold set (routes use the default priority); the retry budget replaces `max_retries`."""
    limits, retry = traffic.circuit_breakers, traffic.retry
    return CircuitBreakers(
        thresholds=[
            CircuitBreakersThresholds(
                max_connections=limits.max_connections,
                max_pending_requests=limits.max_pending_requests,
                max_requests=limits.max_requests,
                retry_budget=CircuitBreakersThresholdsRetryBudget(
                    budget_percent=Percent(value=retry.budget_percent),
                    min_retry_concurrency=retry.min_retry_concurrency,
                ),
            )
        ]
    )


def _outlier_detection(traffic: TrafficPolicy) -> OutlierDetection | None:
    """Consecutive 5xx only (connect failures and resets count as 5xx: errors are not split by origin).
    Success-rate and failure-percentage ejection need bigger pools than GPU fleets have: off."""
    policy = traffic.outlier_detection
    if not policy.enabled:
        return None
    return OutlierDetection(
        consecutive_5xx=policy.consecutive_5xx,
        enforcing_consecutive_5xx=100,
        enforcing_consecutive_gateway_failure=0,
        enforcing_success_rate=0,
        enforcing_failure_percentage=0,
        interval=seconds(policy.interval_s),
        base_ejection_time=seconds(policy.base_ejection_s),
        max_ejection_time=seconds(policy.max_ejection_s),
        max_ejection_percent=policy.max_ejection_percent,
    )


def _health_checks(traffic: TrafficPolicy) -> list[HealthCheck]:
    check = traffic.health_check
    if check is None:
        return []
    interval = seconds(check.interval_s)
    return [
        HealthCheck(
            timeout=seconds(check.timeout_s),
            interval=interval,
            no_traffic_interval=interval,  # Envoy's default slows to 60 s on an idle cluster
            unhealthy_threshold=check.unhealthy_threshold,
            healthy_threshold=check.healthy_threshold,
            http_health_check=HealthCheckHttpHealthCheck(path=check.path),
        )
    ]


def _http1_options(*, auto_sni: bool) -> HttpProtocolOptions:
    """vLLM speaks only HTTP/1.1. With DNS names, SNI and SAN check follow each endpoint's hostname."""
    options = HttpProtocolOptions(
        explicit_http_config=HttpProtocolOptionsExplicitHttpConfig(
            http_protocol_options=Http1ProtocolOptions()
        )
    )
    if auto_sni:
        options.upstream_http_protocol_options = UpstreamHttpProtocolOptions(
            auto_sni=True, auto_san_validation=True
        )
    return options


def _ordered(model: Model) -> list[Backend]:
    return sorted(model.backends, key=lambda b: (b.priority, b.name))


def _tls_transport_socket(model: Model, *, auto_sni: bool) -> TransportSocket:
    """Verify the upstream against `ca_file` (or the system bundle); a missing file makes Envoy NACK."""
    backends = _ordered(model)
    ca_file = next((b.ca_file for b in backends if b.ca_file), SYSTEM_CA_FILE)
    validation = CertificateValidationContext(trusted_ca=DataSource(filename=ca_file))
    if not auto_sni:
        # Fixed endpoints (IP literals, localhost): the certificate must name one of them.
        hosts = dict.fromkeys(b.host for b in backends)
        validation.match_typed_subject_alt_names = [_san_matcher(host) for host in hosts]
    # Envoy's upstream default tops out at TLS 1.2; providers speak 1.3.
    tls_params = TlsParameters(
        tls_minimum_protocol_version=TlsParametersTlsProtocol.TLSv1_2,
        tls_maximum_protocol_version=TlsParametersTlsProtocol.TLSv1_3,
    )
    context = UpstreamTlsContext(
        common_tls_context=CommonTlsContext(tls_params=tls_params, validation_context=validation)
    )
    sni = next((b.host for b in backends if not b.host_is_ip), "")
    if sni:
        context.sni = sni
    return TransportSocket(name=_TLS_TRANSPORT_SOCKET, typed_config=Any.pack(context))


def _san_matcher(host: str) -> SubjectAltNameMatcher:
    try:
        ipaddress.ip_address(host)
        san_type = SubjectAltNameMatcherSanType.IP_ADDRESS
    except ValueError:
        san_type = SubjectAltNameMatcherSanType.DNS
    return SubjectAltNameMatcher(san_type=san_type, matcher=StringMatcher(exact=host))

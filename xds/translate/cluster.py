"""Model → one Envoy cluster: EDS for IP backends, STRICT_DNS for named ones; HTTP/1.1; TLS for https."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from envoy_data_plane.envoy.config.cluster.v3 import (
    Cluster,
    ClusterDiscoveryType,
    ClusterDnsLookupFamily,
    ClusterEdsClusterConfig,
    ClusterLbPolicy,
)
from envoy_data_plane.envoy.config.core.v3 import (
    DataSource,
    Http1ProtocolOptions,
    TransportSocket,
    UpstreamHttpProtocolOptions,
)
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import (
    CertificateValidationContext,
    CommonTlsContext,
    SubjectAltNameMatcher,
    SubjectAltNameMatcherSanType,
    UpstreamTlsContext,
)
from envoy_data_plane.envoy.extensions.upstreams.http.v3 import (
    HttpProtocolOptions,
    HttpProtocolOptionsExplicitHttpConfig,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.google.protobuf import Any

from control_plane.model import Backend, Model
from xds.translate.config_source import ads_config_source
from xds.translate.endpoint import load_assignment, model_cluster_name, uses_dns

__all__ = ["SYSTEM_CA_FILE", "model_cluster"]

SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"

_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls"


def model_cluster(model: Model) -> Cluster:
    """The cluster of `model`; its EDS resource (if any) comes from `endpoint.load_assignment`."""
    dns = uses_dns(model)
    cluster = Cluster(
        name=model_cluster_name(model),
        connect_timeout=timedelta(seconds=max(b.connect_timeout_s for b in model.backends)),
        lb_policy=ClusterLbPolicy.LEAST_REQUEST,
        typed_extension_protocol_options={_HTTP_PROTOCOL_OPTIONS: Any.pack(_http1_options(auto_sni=dns))},
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
    context = UpstreamTlsContext(common_tls_context=CommonTlsContext(validation_context=validation))
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

"""Registry → the `tollway` RouteConfiguration: one route per model, selected by `x-tollway-model`."""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.core.v3 import (
    HeaderValue,
    HeaderValueOption,
    HeaderValueOptionHeaderAppendAction,
)
from envoy_data_plane.envoy.config.route.v3 import (
    HeaderMatcher,
    Route,
    RouteAction,
    RouteActionHashPolicy,
    RouteActionHashPolicyHeader,
    RouteConfiguration,
    RouteMatch,
    VirtualHost,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.google.protobuf import Any

from control_plane.model import (
    BACKEND_HEADER,
    CLIENT_CREDENTIAL_HEADERS,
    MODEL_HEADER,
    STREAM_HEADER,
    TENANT_HEADER,
    Model,
    Snapshot,
)
from xds.translate.endpoint import BACKEND_METADATA_KEY, METADATA_NAMESPACE, model_cluster_name, uses_dns
from xds.translate.ratelimit import LOCAL_RATELIMIT_FILTER, tenant_local_ratelimit, tenant_request_limits
from xds.translate.retry import retry_policy

__all__ = ["BACKEND_HEADER_VALUE", "ROUTE_CONFIG_NAME", "model_routes", "route_configuration"]

ROUTE_CONFIG_NAME = "tollway"
_API_PREFIX = "/v1/"
# The chosen endpoint's registry backend name (endpoint metadata, see endpoint.py). The router adds it
# to the upstream response headers before the encoder filters run, so ext_proc's response-headers phase
# sees it (and removes it before the client does). Empty when no upstream host answered, in which case
# Envoy adds no header.
BACKEND_HEADER_VALUE = f"%UPSTREAM_METADATA({METADATA_NAMESPACE}:{BACKEND_METADATA_KEY})%"


def _header(name: str, value: str) -> HeaderValueOption:
    return HeaderValueOption(
        header=HeaderValue(key=name, value=value),
        append_action=HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    )


def _route(model: Model, *, stream: bool) -> Route:
    action = RouteAction(
        cluster=model_cluster_name(model),
        prefix_rewrite=f"{model.base_path}/",
        timeout=timedelta(0),  # no total cap: long generations are bounded by the idle timeout
        idle_timeout=timedelta(seconds=model.traffic.timeouts.idle_s),
        retry_policy=retry_policy(model, stream=stream),
    )
    if uses_dns(model):
        action.auto_host_rewrite = True
    hash_header = model.traffic.load_balancing.hash_header
    if hash_header is not None:
        action.hash_policy = [
            RouteActionHashPolicy(header=RouteActionHashPolicyHeader(header_name=hash_header))
        ]
    headers = [HeaderMatcher(name=MODEL_HEADER, string_match=StringMatcher(exact=model.name))]
    if stream:
        headers.append(HeaderMatcher(name=STREAM_HEADER, present_match=True))
    return Route(
        name=f"{model.name}/stream" if stream else model.name,
        match=RouteMatch(prefix=_API_PREFIX, headers=headers),
        route=action,
        # An upstream cannot speak for the gateway: its own copy goes before Envoy adds the real one.
        # The gateway's own routing headers and the client's Tollway key are not the provider's business;
        # the provider's credential, if any, is added per upstream request by the cluster (SDS).
        request_headers_to_remove=[MODEL_HEADER, TENANT_HEADER, STREAM_HEADER, *CLIENT_CREDENTIAL_HEADERS],
        request_headers_to_add=[
            _header(name, value) for name, value in sorted(model.upstream_headers.items())
        ],
        response_headers_to_remove=[BACKEND_HEADER],
        response_headers_to_add=[_header(BACKEND_HEADER, BACKEND_HEADER_VALUE)],
    )


def model_routes(model: Model) -> list[Route]:
    """`/v1/…` with `x-tollway-model: <name>` → the model's cluster, path rebased onto its base URL.

    Two routes that differ only in the retry's per-try timeout: streams (`x-tollway-stream` set by
    ext_proc) must show a first byte within `first_byte_s`; non-streamed answers get `response_s`.
    """
    return [_route(model, stream=True), _route(model, stream=False)]


def route_configuration(snapshot: Snapshot) -> RouteConfiguration:
    """One virtual host with a route per model and, when some tenant has an RPM limit, its limiter."""
    models = sorted(snapshot.models, key=lambda m: m.name)
    virtual_host = VirtualHost(
        name="tollway", domains=["*"], routes=[r for m in models for r in model_routes(m)]
    )
    limiter = tenant_local_ratelimit(tenant_request_limits(snapshot))
    if limiter is not None:
        virtual_host.typed_per_filter_config = {LOCAL_RATELIMIT_FILTER: Any.pack(limiter)}
    return RouteConfiguration(name=ROUTE_CONFIG_NAME, virtual_hosts=[virtual_host])

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
    RouteConfiguration,
    RouteMatch,
    VirtualHost,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.google.protobuf import Any

from control_plane.model import BACKEND_HEADER, MODEL_HEADER, TENANT_HEADER, Model, Snapshot
from xds.translate.endpoint import BACKEND_METADATA_KEY, METADATA_NAMESPACE, model_cluster_name, uses_dns
from xds.translate.ratelimit import LOCAL_RATELIMIT_FILTER, tenant_local_ratelimit, tenant_request_limits

__all__ = ["BACKEND_HEADER_VALUE", "ROUTE_CONFIG_NAME", "model_route", "route_configuration"]

ROUTE_CONFIG_NAME = "tollway"
_API_PREFIX = "/v1/"
# The chosen endpoint's registry backend name (endpoint metadata, see endpoint.py). The router adds it
# to the upstream response headers before the encoder filters run, so ext_proc's response-headers phase
# sees it (and removes it before the client does). Empty when no upstream host answered, in which case
# Envoy adds no header.
BACKEND_HEADER_VALUE = f"%UPSTREAM_METADATA({METADATA_NAMESPACE}:{BACKEND_METADATA_KEY})%"


def _backend_header() -> HeaderValueOption:
    return HeaderValueOption(
        header=HeaderValue(key=BACKEND_HEADER, value=BACKEND_HEADER_VALUE),
        append_action=HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    )


def model_route(model: Model) -> Route:
    """`/v1/…` with `x-tollway-model: <name>` → the model's cluster, path rebased onto its base URL."""
    action = RouteAction(
        cluster=model_cluster_name(model),
        prefix_rewrite=f"{model.base_path}/",
        timeout=timedelta(0),  # no total cap: long generations are bounded by the idle timeout
        idle_timeout=timedelta(seconds=model.traffic.timeouts.idle_s),
    )
    if uses_dns(model):
        action.auto_host_rewrite = True
    return Route(
        name=model.name,
        match=RouteMatch(
            prefix=_API_PREFIX,
            headers=[HeaderMatcher(name=MODEL_HEADER, string_match=StringMatcher(exact=model.name))],
        ),
        route=action,
        # An upstream cannot speak for the gateway: its own copy goes before Envoy adds the real one.
        # The gateway's own routing headers are not the upstream provider's business.
        request_headers_to_remove=[MODEL_HEADER, TENANT_HEADER],
        response_headers_to_remove=[BACKEND_HEADER],
        response_headers_to_add=[_backend_header()],
    )


def route_configuration(snapshot: Snapshot) -> RouteConfiguration:
    """One virtual host with a route per model and, when some tenant has an RPM limit, its limiter."""
    models = sorted(snapshot.models, key=lambda m: m.name)
    virtual_host = VirtualHost(name="tollway", domains=["*"], routes=[model_route(m) for m in models])
    limiter = tenant_local_ratelimit(tenant_request_limits(snapshot))
    if limiter is not None:
        virtual_host.typed_per_filter_config = {LOCAL_RATELIMIT_FILTER: Any.pack(limiter)}
    return RouteConfiguration(name=ROUTE_CONFIG_NAME, virtual_hosts=[virtual_host])

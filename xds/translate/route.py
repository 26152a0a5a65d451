"""Registry → the `tollway` RouteConfiguration: one route per model, selected by `x-tollway-model`."""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.route.v3 import (
    HeaderMatcher,
    Route,
    RouteAction,
    RouteConfiguration,
    RouteMatch,
    VirtualHost,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher

from control_plane.model import MODEL_HEADER, Model, Snapshot
from xds.translate.endpoint import model_cluster_name, uses_dns

__all__ = ["ROUTE_CONFIG_NAME", "model_route", "route_configuration"]

ROUTE_CONFIG_NAME = "tollway"
_API_PREFIX = "/v1/"


def model_route(model: Model) -> Route:
    """`/v1/…` with `x-tollway-model: <name>` → the model's cluster, path rebased onto its base URL."""
    action = RouteAction(
        cluster=model_cluster_name(model),
        prefix_rewrite=f"{model.base_path}/",
        timeout=timedelta(0),  # no total cap: long generations are bounded by the idle timeout
        idle_timeout=timedelta(seconds=model.stream_idle_timeout_s),
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
    )


def route_configuration(snapshot: Snapshot) -> RouteConfiguration:
    models = sorted(snapshot.models, key=lambda m: m.name)
    return RouteConfiguration(
        name=ROUTE_CONFIG_NAME,
        virtual_hosts=[VirtualHost(name="tollway", domains=["*"], routes=[model_route(m) for m in models])],
    )

"""Registry snapshot → Envoy resources. Pure functions: no I/O, no clock, stable output for one input."""

from __future__ import annotations

from control_plane.model import Snapshot
from xds.translate.cluster import model_cluster
from xds.translate.endpoint import load_assignment, model_cluster_name, uses_dns
from xds.translate.listener import LISTENER_NAME, http_listener
from xds.translate.options import TranslateOptions
from xds.translate.resources import Resources
from xds.translate.route import ROUTE_CONFIG_NAME, route_configuration

__all__ = [
    "LISTENER_NAME",
    "ROUTE_CONFIG_NAME",
    "Resources",
    "TranslateOptions",
    "model_cluster_name",
    "translate",
]


def translate(snapshot: Snapshot, options: TranslateOptions) -> Resources:
    """Every listener, route config, cluster and load assignment Envoy needs for `snapshot`."""
    models = sorted(snapshot.models, key=lambda m: m.name)
    listener = http_listener(options)
    routes = route_configuration(snapshot)
    return Resources(
        clusters={model_cluster_name(m): model_cluster(m) for m in models},
        endpoints={model_cluster_name(m): load_assignment(m) for m in models if not uses_dns(m)},
        listeners={listener.name: listener},
        routes={routes.name: routes},
    )

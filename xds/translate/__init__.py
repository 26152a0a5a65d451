"""Registry snapshot → Envoy resources. Pure functions: no I/O, no clock, stable output for one input."""

from __future__ import annotations

from control_plane.model import Snapshot, UpstreamCredential
from xds.translate.cluster import model_cluster
from xds.translate.endpoint import load_assignment, model_cluster_name, uses_dns
from xds.translate.listener import LISTENER_NAME, http_listener
from xds.translate.options import TranslateOptions
from xds.translate.resources import Resources
from xds.translate.route import ROUTE_CONFIG_NAME, route_configuration
from xds.translate.secret import SecretOpener, credential_secrets

__all__ = [
    "LISTENER_NAME",
    "ROUTE_CONFIG_NAME",
    "Resources",
    "SecretOpener",
    "TranslateOptions",
    "model_cluster_name",
    "translate",
]


def _no_secrets(credential: UpstreamCredential) -> str:
    raise ValueError(f"credential {credential.name!r} cannot be opened: xds has no secret key")


def translate(
    snapshot: Snapshot, options: TranslateOptions, open_secret: SecretOpener = _no_secrets
) -> Resources:
    """Every listener, route config, cluster, load assignment and secret Envoy needs for `snapshot`.

    `open_secret` turns a sealed registry credential into its clear value (only for credentials that
    some model uses)."""
    models = sorted(snapshot.models, key=lambda m: m.name)
    listener = http_listener(options)
    routes = route_configuration(snapshot)
    return Resources(
        clusters={model_cluster_name(m): model_cluster(m, snapshot.spec) for m in models},
        secrets=credential_secrets(snapshot.spec, open_secret),
        endpoints={model_cluster_name(m): load_assignment(m) for m in models if not uses_dns(m)},
        listeners={listener.name: listener},
        routes={routes.name: routes},
    )

"""The Envoy bootstrap baked into the `tollway/envoy` image (compose/build-images.sh prints it with
`python -m control_plane.launcher.container_envoy`).

In the compose network the control plane's xds answers at `xds:18000` and every ext_proc replica at
`ext-proc:50051` (one DNS name, one address per replica). Envoy's admin listens on all interfaces at
9901 (inside the private network; compose publishes it to the host's loopback only). The node id and
the advertised admin URL are set per container at start (envoy-entrypoint.sh: `--service-node` and
`--config-yaml`), so one image serves every replica.
"""

from __future__ import annotations

from control_plane.launcher.envoy import render_bootstrap

__all__ = ["CONTAINER_PORTS", "container_bootstrap", "main"]

CONTAINER_PORTS = {"listener": 8080, "admin": 9901, "xds": 18000, "ext_proc": 50051}
"""The fixed ports inside the containers (compose/compose.yaml maps the listener and admin ones)."""


def container_bootstrap(*, xds_host: str = "xds", ext_proc_host: str = "ext-proc") -> str:
    return render_bootstrap(
        node_id="tollway-envoy",  # replaced per container by --service-node
        admin_port=CONTAINER_PORTS["admin"],
        listener_port=CONTAINER_PORTS["listener"],
        xds_port=CONTAINER_PORTS["xds"],
        ext_proc_ports=[CONTAINER_PORTS["ext_proc"]],
        xds_host=xds_host,
        ext_proc_host=ext_proc_host,
        admin_host="0.0.0.0",  # the container's own interfaces, in a private network
    )


def main() -> None:
    print(container_bootstrap(), end="")


if __name__ == "__main__":
    main()

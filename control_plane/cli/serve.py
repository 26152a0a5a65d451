"""`tollway control-plane` (the compose control plane: admin API/UI + xds in one container) and
`tollway demo-seed` (the demo model, plan, tenant, price and key on a running stack)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from control_plane.cli.connection import AdminUrlOpt, TokenOpt, admin
from control_plane.launcher.demo_seed import demo_model, seed_demo
from control_plane.launcher.supervisor import CONTROL_PLANE_SERVICES, supervise

__all__ = ["control_plane", "demo_seed"]


def control_plane() -> None:
    """Run the admin API/UI and xds together (configure each by its TOLLWAY_ADMIN_* / TOLLWAY_XDS_*
    environment); exits when either exits, with its code."""
    raise typer.Exit(supervise(CONTROL_PLANE_SERVICES))


def demo_seed(
    upstream_url: Annotated[
        str, typer.Option(help="the mock upstream's OpenAI base URL (as Envoy reaches it)")
    ],
    state_dir: Annotated[Path, typer.Option(help="where the demo key's secret is kept (0600 file)")],
    model: Annotated[str, typer.Option(help="the demo model's name")] = "demo",
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Register the demo model on UPSTREAM_URL and create the demo plan, tenant, price and key (once;
    idempotent). Prints only the key's secret, for scripts."""
    with admin(state_dir, admin_url, token) as client:
        if not any(m["name"] == model for m in client.models()["models"]):
            client.put_model(demo_model(model, upstream_url))
        secret = seed_demo(client, state_dir, model)
    typer.echo(secret)

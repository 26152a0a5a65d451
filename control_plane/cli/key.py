"""`tollway keys create|list|revoke|rotate`. A secret is printed once, when it is created."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from control_plane.cli.connection import AdminUrlOpt, JsonOpt, StateDirOpt, TokenOpt, admin, fail
from control_plane.cli.duration import parse_duration
from control_plane.cli.output import print_json, print_table

__all__ = ["app"]

app = typer.Typer(help="Create, list, revoke and rotate API keys.", no_args_is_help=True)

_WARNING = "store this secret now: it cannot be shown again"


def _print_secret(result: dict[str, Any], verb: str, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    key = result["key"]
    typer.echo(f"{verb} key {key['id']} for tenant {key['tenant']}", err=True)
    typer.echo(f"warning: {_WARNING}", err=True)
    typer.echo(result["secret"])  # stdout, alone on its line: `tollway keys create … > key.txt`


def _duration(text: str, option: str) -> float:
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        fail(f"{option}: {exc}")


@app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="the tenant the key bills and limits")],
    name: Annotated[str, typer.Option(help="a label for people")] = "",
    models: Annotated[str | None, typer.Option(help="comma-separated models the key may call")] = None,
    expires_in: Annotated[str | None, typer.Option(help="e.g. 30d, 12h (default: never)")] = None,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key; its secret is printed once and cannot be shown again."""
    allowed = [m.strip() for m in models.split(",") if m.strip()] if models is not None else None
    expires_in_s = _duration(expires_in, "--expires-in") if expires_in is not None else None
    with admin(state_dir, admin_url, token) as client:
        result = client.create_key(tenant, name=name, allowed_models=allowed, expires_in_s=expires_in_s)
    _print_secret(result, "created", as_json)


@app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's keys")] = None,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List keys (never secrets): id, tenant, name, prefix, state, expiry."""
    with admin(state_dir, admin_url, token) as client:
        result = client.keys(tenant)
    if as_json:
        print_json(result)
        return
    rows = [
        (k["id"], k["tenant"], k["name"] or "-", k["prefix"] + "…", k["state"], k["expires_at"] or "-",
         ",".join(k["allowed_models"]) if k["allowed_models"] is not None else "(plan)",
         k["rotated_to"] or "-")
        for k in result["keys"]
    ]  # fmt: skip
    print_table(("KEY", "TENANT", "NAME", "PREFIX", "STATE", "EXPIRES", "MODELS", "ROTATED TO"), rows)


@app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID")],
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key now."""
    with admin(state_dir, admin_url, token) as client:
        result = client.revoke_key(key_id)
    if as_json:
        print_json(result)
    else:
        typer.echo(f"revoked: {key_id} at {result['revoked_at']}")


@app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(metavar="ID")],
    grace: Annotated[str, typer.Option(help="how long the old key keeps working, e.g. 60s, 1h")] = "0s",
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a key: a new secret (printed once); the old key works until the grace period ends."""
    grace_s = _duration(grace, "--grace")
    with admin(state_dir, admin_url, token) as client:
        result = client.rotate_key(key_id, grace_s)
    if not as_json:
        typer.echo(f"{key_id} now expires at {result['previous']['expires_at']}", err=True)
    _print_secret(result, "rotated to", as_json)

"""`tollway`: run the stack and manage the registry through the admin API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from control_plane.cli import admin_users, backend, cache, credential, key, plan, price, serve, tenant, usage
from control_plane.cli.connection import AdminUrlOpt, JsonOpt, StateDirOpt, TokenOpt, call, fail
from control_plane.cli.health import print_backend_health
from control_plane.cli.output import print_json, print_table, print_write
from control_plane.cli.up import run_up
from control_plane.launcher import StackSettings
from control_plane.model import Backend, Model
from control_plane.registry import RegistryDocument

__all__ = ["app", "main"]

app = typer.Typer(help="Tollway, an LLM gateway: Envoy data plane, Python governance.", no_args_is_help=True)
models_app = typer.Typer(help="List, add and remove models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(plan.app, name="plans")
app.add_typer(tenant.app, name="tenants")
app.add_typer(price.app, name="prices")
app.add_typer(key.app, name="keys")
app.add_typer(backend.app, name="backends")
app.add_typer(credential.app, name="credentials")
app.add_typer(cache.app, name="cache")
app.add_typer(admin_users.app, name="admin")
app.command("usage")(usage.usage)
app.command("control-plane")(serve.control_plane)
app.command("demo-seed")(serve.demo_seed)


@app.command()
def up(
    listener_port: Annotated[int | None, typer.Option(help="OpenAI listener port [8080]; 0 = any")] = None,
    admin_port: Annotated[int | None, typer.Option(help="admin API port [8081]; 0 = any")] = None,
    workers: Annotated[int | None, typer.Option(help="ext_proc processes [2]")] = None,
    redis_url: Annotated[str | None, typer.Option(help="external Redis/Valkey instead of embedded")] = None,
    demo: Annotated[bool | None, typer.Option(help="serve the demo model on a mock upstream [yes]")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="where state and logs live [.tollway]")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start Valkey, the admin API, xds, ext_proc, Envoy (and a demo model); Ctrl-C stops all.

    Every option can also be set as TOLLWAY_<NAME> (StackSettings); an option given here wins.
    """
    given: dict[str, Any] = {
        "listener_port": listener_port,
        "admin_port": admin_port,
        "ext_proc_workers": workers,
        "redis_url": redis_url,
        "demo": demo,
        "state_dir": state_dir,
    }
    settings = StackSettings(**{k: v for k, v in given.items() if v is not None})
    run_up(settings, as_json=as_json)


@app.command()
def apply(
    file: Annotated[
        Path, typer.Option("-f", "--file", exists=True, dir_okay=False, help="registry YAML/JSON")
    ],
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make the registry's sections in FILE (models, plans, tenants, prices) equal FILE's.

    Declarative and idempotent per section: a section FILE leaves out is not touched (so a models-only
    file keeps every tenant), a section given as `[]` is emptied, and applying FILE twice is no change.
    """
    try:
        document = RegistryDocument.model_validate(yaml.safe_load(file.read_text()) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        fail(f"{file} is not a valid registry document: {exc}")
    if not document.model_fields_set:
        fail(f"{file} has none of the sections models, plans, tenants, prices")
    result = call(state_dir, admin_url, token, "apply", document)
    if as_json:
        print_json(result)
    else:
        verb = "applied" if result["changed"] else "unchanged"
        counts = ", ".join(
            f"{len(getattr(document, name))} {name}" for name in sorted(document.model_fields_set)
        )
        typer.echo(f"{verb}: registry version {result['version']} ({counts})")


@models_app.command("list")
def models_list(
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the registry's models."""
    result = call(state_dir, admin_url, token, "models")
    if as_json:
        print_json(result)
        return
    rows = [
        (m["name"], ",".join(m["aliases"]) or "-", " ".join(b["base_url"] for b in m["backends"]))
        for m in result["models"]
    ]
    print_table(("MODEL", "ALIASES", "BACKENDS"), rows)
    typer.echo(f"registry version {result['version']}")


@models_app.command("add")
def models_add(
    name: str,
    backend: Annotated[list[str], typer.Option(help="base URL, or NAME=URL; repeat for several")],
    alias: Annotated[list[str] | None, typer.Option(help="another name clients may use; repeatable")] = None,
    description: str = "",
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a model (or replace the model of that name)."""
    try:
        backends = tuple(
            Backend(name=spec.split("=", 1)[0], base_url=spec.split("=", 1)[1])
            if "=" in spec
            else Backend(name=f"b{index}", base_url=spec)
            for index, spec in enumerate(backend)
        )
        model = Model(name=name, aliases=tuple(alias or ()), description=description, backends=backends)
    except ValidationError as exc:
        fail(str(exc))
    result = call(state_dir, admin_url, token, "put_model", model)
    print_write(result, as_json, name)


@models_app.command("rm")
def models_rm(
    name: str,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a model."""
    result = call(state_dir, admin_url, token, "remove_model", name)
    print_write(result, as_json, name, verb="removed")


@app.command()
def status(
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    backends: Annotated[bool, typer.Option(help="also show backend health read from every Envoy")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Registry version; per Envoy node the ACKed version per resource type and the last NACK; and per
    node, model and backend: health state, Envoy's health flags, requests and errors (`--json`:
    `backend_health` holds one entry per connected node)."""
    result = call(state_dir, admin_url, token, "status")
    health = call(state_dir, admin_url, token, "backend_health") if backends else None
    if as_json:
        print_json(result if health is None else {**result, "backend_health": health["nodes"]})
        return
    typer.echo(f"registry version {result['registry_version']}, {result['models']} models")
    rows = []
    for node in result["envoy_nodes"]:
        for type_, res in sorted(node["resources"].items()):
            nack = res.get("last_nack")
            rows.append((
                node["node_id"], "yes" if node["connected"] else "no", type_,
                res["acked_version"] or "-", f"{nack['version']}: {nack['message']}" if nack else "-",
            ))  # fmt: skip
    print_table(("NODE", "CONNECTED", "TYPE", "ACKED", "LAST NACK"), rows)
    if health is not None:
        print_backend_health(health)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()

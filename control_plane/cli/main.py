"""`tollway`: run the stack and manage the registry through the admin API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
import yaml
from pydantic import ValidationError

from control_plane.admin_client import AdminClient, AdminClientError
from control_plane.cli.output import print_json, print_table
from control_plane.cli.up import run_up
from control_plane.launcher import StackSettings
from control_plane.model import Backend, Model, RegistrySpec

__all__ = ["app", "main"]

app = typer.Typer(help="Tollway, an LLM gateway: Envoy data plane, Python governance.", no_args_is_help=True)
models_app = typer.Typer(help="List, add and remove models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]
StateDirOpt = Annotated[Path, typer.Option(envvar="TOLLWAY_STATE_DIR", help="where `tollway up` keeps state")]


def _client(state_dir: Path, admin_url: str | None, token: str | None) -> AdminClient:
    """Admin URL and token from the options/env, else from the state `tollway up` wrote."""
    stack_file = state_dir / "stack.json"
    stack: dict[str, Any] = orjson.loads(stack_file.read_bytes()) if stack_file.exists() else {}
    url = admin_url or stack.get("admin_url") or "http://127.0.0.1:8081"
    token_file = state_dir / "admin-token"
    secret = token or (token_file.read_text().strip() if token_file.exists() else None)
    if not secret:
        _fail("no admin token: pass --token, set TOLLWAY_ADMIN_TOKEN, or run `tollway up` in this directory")
    return AdminClient(url, secret)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


AdminUrlOpt = Annotated[str | None, typer.Option(envvar="TOLLWAY_ADMIN_URL", help="admin API base URL")]
TokenOpt = Annotated[str | None, typer.Option(envvar="TOLLWAY_ADMIN_TOKEN", help="admin token")]


def _call(state_dir: Path, admin_url: str | None, token: str | None, what: str, *args: Any) -> dict[str, Any]:
    client = _client(state_dir, admin_url, token)
    try:
        result: dict[str, Any] = getattr(client, what)(*args)
        return result
    except AdminClientError as exc:
        _fail(str(exc))
    finally:
        client.close()


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
    """Make the registry equal FILE (declarative and idempotent)."""
    try:
        spec = RegistrySpec.model_validate(yaml.safe_load(file.read_text()) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        _fail(f"{file} is not a valid registry: {exc}")
    result = _call(state_dir, admin_url, token, "apply", spec)
    if as_json:
        print_json(result)
    else:
        verb = "applied" if result["changed"] else "unchanged"
        typer.echo(f"{verb}: registry version {result['version']} ({len(spec.models)} models)")


@models_app.command("list")
def models_list(
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the registry's models."""
    result = _call(state_dir, admin_url, token, "models")
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
        _fail(str(exc))
    result = _call(state_dir, admin_url, token, "put_model", model)
    if as_json:
        print_json(result)
    else:
        typer.echo(
            f"{'added' if result['changed'] else 'unchanged'}: {name} (registry version {result['version']})"
        )


@models_app.command("rm")
def models_rm(
    name: str,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a model."""
    result = _call(state_dir, admin_url, token, "remove_model", name)
    if as_json:
        print_json(result)
    else:
        typer.echo(f"removed: {name} (registry version {result['version']})")


@app.command()
def status(
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Registry version and, per Envoy node, the ACKed version per resource type and the last NACK."""
    result = _call(state_dir, admin_url, token, "status")
    if as_json:
        print_json(result)
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


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()

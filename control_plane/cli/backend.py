"""`tollway backends register|list|deregister`: backends that register themselves (service discovery).

`register --every 5s` keeps heart-beating until Ctrl-C (then deregisters, so the backend leaves at
once); without `--every` it registers once and the backend leaves `--ttl` after that. These commands
take the admin token or the registration token (`TOLLWAY_REGISTRATION_TOKEN`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from control_plane.admin_client import AdminClient, AdminClientError
from control_plane.cli.connection import AdminUrlOpt, JsonOpt, StateDirOpt, admin, fail
from control_plane.cli.duration import parse_duration
from control_plane.cli.output import print_json, print_table
from control_plane.model import Backend

__all__ = ["app", "heartbeat"]

app = typer.Typer(help="Register backends for a model (with a heartbeat), list and remove them.")

RegistrarTokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar=["TOLLWAY_REGISTRATION_TOKEN", "TOLLWAY_ADMIN_TOKEN"],
        help="registration token (or the admin token)",
    ),
]
ModelOpt = Annotated[str, typer.Option(help="the model (name or alias) the backend serves")]


def _seconds(text: str, option: str) -> float:
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _describe(result: dict[str, Any]) -> str:
    backend = result["backend"]
    return f"{result['model']}/{backend['name']} ({backend['base_url']}) until {result['expires_at']}"


def heartbeat(
    client: AdminClient,
    model: str,
    backend: Backend,
    ttl_s: float,
    every_s: float,
    *,
    on_beat: Callable[[dict[str, Any]], None],
    on_error: Callable[[AdminClientError], None],
    sleep: Callable[[float], None] = time.sleep,
    beats: int | None = None,
) -> None:
    """Register now (a refusal raises), then again every `every_s` (errors reported, the loop goes on,
    as a backend must outlive an admin API restart) for `beats` more times, or until interrupted."""
    on_beat(client.register_backend(model, backend, ttl_s))
    done = 0
    while beats is None or done < beats:
        sleep(every_s)
        done += 1
        try:
            on_beat(client.register_backend(model, backend, ttl_s))
        except AdminClientError as exc:
            on_error(exc)


@app.command("register")
def backends_register(
    model: ModelOpt,
    name: Annotated[str, typer.Option(help="the backend's name (a DNS label), unique within the model")],
    base_url: Annotated[str, typer.Option(help="its OpenAI base URL with an IP or localhost")],
    weight: Annotated[int, typer.Option(help="relative share of traffic within a priority")] = 1,
    priority: Annotated[int, typer.Option(help="0 is preferred; higher priorities are fallbacks")] = 0,
    ttl: Annotated[str, typer.Option(help="leave this long after the last heartbeat, e.g. 15s")] = "15s",
    every: Annotated[str | None, typer.Option(help="heartbeat period, e.g. 5s: runs until Ctrl-C")] = None,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: RegistrarTokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a backend for a model (again = heartbeat); with --every, keep heart-beating."""
    ttl_s = _seconds(ttl, "--ttl")
    every_s = _seconds(every, "--every") if every is not None else None
    if every_s is not None and not 0 < every_s < ttl_s:
        fail(f"--every ({every}) must be shorter than --ttl ({ttl}), ideally a third of it")
    try:
        backend = Backend(name=name, base_url=base_url, weight=weight, priority=priority)
    except ValidationError as exc:
        fail(str(exc))

    def on_beat(result: dict[str, Any]) -> None:
        if as_json:
            print_json(result)
        else:
            typer.echo(f"registered: {_describe(result)}")

    def on_error(exc: AdminClientError) -> None:
        typer.echo(f"warning: heartbeat failed ({exc}); retrying in {every}", err=True)

    with admin(state_dir, admin_url, token) as client:
        if every_s is None:
            on_beat(client.register_backend(model, backend, ttl_s))
            return
        try:
            heartbeat(client, model, backend, ttl_s, every_s, on_beat=on_beat, on_error=on_error)
        except KeyboardInterrupt:
            client.deregister_backend(model, name)
            typer.echo(f"deregistered: {model}/{name}", err=True)


@app.command("list")
def backends_list(
    model: Annotated[str | None, typer.Option(help="only this model's backends")] = None,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: RegistrarTokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the live self-registered backends (registry backends: `tollway models list`)."""
    with admin(state_dir, admin_url, token) as client:
        result = client.registrations(model)
    if as_json:
        print_json(result)
        return
    rows = [
        (r["model"], r["backend"]["name"], r["backend"]["base_url"], r["backend"]["weight"],
         r["backend"]["priority"], r["ttl_s"], r["expires_at"])
        for r in result["registrations"]
    ]  # fmt: skip
    print_table(("MODEL", "BACKEND", "BASE URL", "WEIGHT", "PRIORITY", "TTL", "EXPIRES"), rows)


@app.command("deregister")
def backends_deregister(
    model: ModelOpt,
    name: Annotated[str, typer.Option(help="the registered backend's name")],
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: RegistrarTokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a registered backend now (idempotent)."""
    with admin(state_dir, admin_url, token) as client:
        result = client.deregister_backend(model, name)
    if as_json:
        print_json(result)
    else:
        typer.echo(f"{'deregistered' if result['removed'] else 'not registered'}: {model}/{name}")

"""`tollway plans list|add|rm`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from control_plane.cli.connection import AdminUrlOpt, JsonOpt, StateDirOpt, TokenOpt, admin, fail
from control_plane.cli.output import print_json, print_table, print_write
from control_plane.model import Plan

__all__ = ["app"]

app = typer.Typer(help="List, add and remove plans (limits and billing).", no_args_is_help=True)


def _limits(plan: dict[str, Any]) -> str:
    limits = {k: v for k, v in plan.get("limits", {}).items() if v is not None}
    return " ".join(f"{k}={v}" for k, v in sorted(limits.items())) or "-"


@app.command("list")
def plans_list(
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the plans."""
    with admin(state_dir, admin_url, token) as client:
        result = client.plans()
    if as_json:
        print_json(result)
        return
    rows = [(p["name"], p["billing"]["kind"], _limits(p)) for p in result["plans"]]
    print_table(("PLAN", "BILLING", "LIMITS"), rows)


@app.command("add")
def plans_add(
    file: Annotated[Path, typer.Option("-f", "--file", exists=True, dir_okay=False, help="plan YAML/JSON")],
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add the plan(s) in FILE (one plan, or a list), replacing plans of the same name."""
    try:
        loaded = yaml.safe_load(file.read_text())
        plans = [Plan.model_validate(item) for item in (loaded if isinstance(loaded, list) else [loaded])]
    except (yaml.YAMLError, ValidationError) as exc:
        fail(f"{file} is not a valid plan: {exc}")
    results = []
    with admin(state_dir, admin_url, token) as client:
        for plan in plans:
            results.append({"plan": plan.name, **client.put_plan(plan)})
    if as_json:
        print_json(results)
        return
    for result in results:
        verb = "added" if result["changed"] else "unchanged"
        typer.echo(f"{verb}: plan {result['plan']} (registry version {result['version']})")


@app.command("rm")
def plans_rm(
    name: str,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a plan no tenant uses."""
    with admin(state_dir, admin_url, token) as client:
        result = client.remove_plan(name)
    print_write(result, as_json, f"plan {name}", verb="removed")

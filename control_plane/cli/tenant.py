"""`tollway tenants list|add|rm`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from control_plane.cli.connection import AdminUrlOpt, JsonOpt, StateDirOpt, TokenOpt, admin, fail
from control_plane.cli.output import print_json, print_table, print_write
from control_plane.model import Tenant, TenantStatus

__all__ = ["app"]

app = typer.Typer(help="List, add and remove tenants.", no_args_is_help=True)


@app.command("list")
def tenants_list(
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the tenants."""
    with admin(state_dir, admin_url, token) as client:
        result = client.tenants()
    if as_json:
        print_json(result)
        return
    rows = [(t["id"], t["plan"], t["status"], t["name"] or "-") for t in result["tenants"]]
    print_table(("TENANT", "PLAN", "STATUS", "NAME"), rows)


@app.command("add")
def tenants_add(
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="lower-case slug")],
    plan: Annotated[str, typer.Option("--plan", help="the tenant's plan (must exist)")],
    name: Annotated[str, typer.Option(help="display name")] = "",
    suspended: Annotated[bool, typer.Option("--suspended", help="every key gets 403 until active")] = False,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a tenant (or replace the tenant with this id)."""
    status = TenantStatus.SUSPENDED if suspended else TenantStatus.ACTIVE
    try:
        tenant = Tenant(id=tenant_id, name=name, plan=plan, status=status)
    except ValidationError as exc:
        fail(str(exc))
    with admin(state_dir, admin_url, token) as client:
        result = client.put_tenant(tenant)
    print_write(result, as_json, f"tenant {tenant_id} on plan {plan}")


@app.command("rm")
def tenants_rm(
    tenant_id: Annotated[str, typer.Argument(metavar="ID")],
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a tenant (its keys stop working)."""
    with admin(state_dir, admin_url, token) as client:
        result = client.remove_tenant(tenant_id)
    print_write(result, as_json, f"tenant {tenant_id}", verb="removed")

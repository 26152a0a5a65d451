"""`tollway credentials set|list|delete|generate-key`: upstream credentials (provider keys).

A value is never a command-line argument (it would land in the shell history and in `ps`): it comes from
an environment variable or from stdin, goes out once in the PUT body, and is never printed.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

from control_plane.cli.connection import AdminUrlOpt, JsonOpt, StateDirOpt, TokenOpt, admin, fail
from control_plane.cli.output import print_json, print_table, print_write
from control_plane.secret_box import generate_key

__all__ = ["app"]

app = typer.Typer(help="Set, list and delete upstream credentials (provider API keys).", no_args_is_help=True)


def _read_value(value_from_env: str | None, value_stdin: bool) -> SecretStr:
    if (value_from_env is None) == (not value_stdin):
        fail("give exactly one of --value-from-env VAR and --value-stdin")
    if value_from_env is not None:
        clear = os.environ.get(value_from_env, "")
        if not clear:
            fail(f"environment variable {value_from_env} is not set or empty")
    elif sys.stdin.isatty():
        clear = getpass.getpass("credential value (not echoed): ")
    else:
        clear = sys.stdin.read().rstrip("\r\n")  # `echo $KEY | …` and files end with a newline
    if not clear:
        fail("the credential value is empty")
    return SecretStr(clear)


@app.command("set")
def credentials_set(
    name: str,
    header: Annotated[
        str | None, typer.Option(help="header to send (default: authorization, or as before)")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option(help="text before the value (default: `Bearer `, or as before)")
    ] = None,
    value_from_env: Annotated[
        str | None, typer.Option(metavar="VAR", help="read the value from this environment variable")
    ] = None,
    value_stdin: Annotated[
        bool, typer.Option("--value-stdin", help="read the value from stdin (prompt on a terminal)")
    ] = False,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a credential or rotate its value (header and prefix are kept unless given).

    The value is sealed by the admin API with the deployment's secret key; nothing shows it again.
    """
    value = _read_value(value_from_env, value_stdin)
    with admin(state_dir, admin_url, token) as client:
        result = client.put_credential(name, value, header=header, prefix=prefix)
    if as_json:
        print_json(result)
        return
    credential = result["credential"]
    verb = "set" if result["changed"] else "unchanged"
    typer.echo(
        f"{verb}: credential {name} ({credential['header']}: {credential['prefix']}{credential['hint']}, "
        f"registry version {result['version']})"
    )


@app.command("list")
def credentials_list(
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List credentials: name, header, masked value, last change, models using them."""
    with admin(state_dir, admin_url, token) as client:
        result = client.credentials()
    if as_json:
        print_json(result)
        return
    rows = [
        (c["name"], c["header"], f"{c['prefix']}{c['hint']}", c["updated_at"], ",".join(c["used_by"]) or "-")
        for c in result["credentials"]
    ]
    print_table(("CREDENTIAL", "HEADER", "VALUE", "UPDATED", "USED BY"), rows)


@app.command("delete")
def credentials_delete(
    name: str,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a credential no model uses."""
    with admin(state_dir, admin_url, token) as client:
        result = client.remove_credential(name)
    print_write(result, as_json, f"credential {name}", verb="removed")


@app.command("generate-key")
def credentials_generate_key() -> None:
    """Print a new secret key for TOLLWAY_ADMIN_SECRET_KEY and TOLLWAY_XDS_SECRET_KEY (both the same).

    `tollway up` makes one by itself; this is for deployments that set the environment themselves.
    """
    typer.echo(generate_key())

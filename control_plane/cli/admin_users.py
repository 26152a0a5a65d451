"""`tollway admin create-user|users|set-password|disable-user|enable-user|delete-user`: the people who
may sign in to the admin UI.

A password is never a command-line argument (it would land in the shell history and in `ps`): it is
typed at a hidden prompt (twice), or read as one line from stdin with `--password-stdin`. It goes out
once, in a POST body, and is never printed; the admin API stores only its argon2id hash.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from control_plane.admin_client import AdminClient
from control_plane.admin_users import password_problem
from control_plane.cli.connection import AdminUrlOpt, JsonOpt, StateDirOpt, TokenOpt, admin, fail
from control_plane.cli.output import print_json, print_table
from control_plane.model import AdminRole

__all__ = ["app"]

app = typer.Typer(help="Manage the people who may sign in to the admin UI.", no_args_is_help=True)

UsernameArg = Annotated[str, typer.Argument(metavar="USERNAME", help="lower case, e.g. alice")]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="read the password as one line from stdin instead of prompting"),
]


def _is_terminal() -> bool:
    return sys.stdin.isatty()


def _read_password(password_stdin: bool) -> SecretStr:
    """The password from one line of stdin, or from a hidden prompt typed twice; checked against the
    policy here so a bad one fails before any call."""
    if password_stdin:
        clear = sys.stdin.readline().rstrip("\r\n")
    elif _is_terminal():
        clear = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        fail("no terminal to prompt for the password: pipe it in with --password-stdin")
    if not clear:
        fail("the password is empty")
    if (problem := password_problem(clear)) is not None:
        fail(problem)
    return SecretStr(clear)


def _print_user(result: dict[str, Any], verb: str, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    tenant = f", tenant {result['tenant']}" if result["tenant"] else ""
    typer.echo(f"{verb}: user {result['username']} (role {result['role']}{tenant})")


@app.command("create-user")
def create_user(
    username: UsernameArg,
    role: Annotated[AdminRole, typer.Option(help="admin: everything; viewer: read-only; tenant: one tenant")],
    tenant: Annotated[str | None, typer.Option(help="the tenant of a `tenant` user")] = None,
    password_stdin: PasswordStdinOpt = False,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an admin UI user; the password (12 to 1024 characters) is prompted for, or read from
    stdin with --password-stdin."""
    if (role is AdminRole.TENANT) != (tenant is not None):
        fail("a `tenant` user needs --tenant; other roles take none")
    password = _read_password(password_stdin)
    with admin(state_dir, admin_url, token) as client:
        result = client.create_user(username, password, role.value, tenant=tenant)
    _print_user(result, "created", as_json)


@app.command("users")
def list_users(
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List admin UI users: username, role, tenant, whether disabled, when created."""
    with admin(state_dir, admin_url, token) as client:
        result = client.users()
    if as_json:
        print_json(result)
        return
    rows = [
        (u["username"], u["role"], u["tenant"] or "-", "yes" if u["disabled"] else "no", u["created_at"])
        for u in result["users"]
    ]
    print_table(("USERNAME", "ROLE", "TENANT", "DISABLED", "CREATED"), rows)


@app.command("set-password")
def set_password(
    username: UsernameArg,
    password_stdin: PasswordStdinOpt = False,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a user's password (prompted for, or read from stdin with --password-stdin)."""
    password = _read_password(password_stdin)
    with admin(state_dir, admin_url, token) as client:
        result = client.set_user_password(username, password)
    _print_user(result, "password changed", as_json)


def _user_action(name: str, verb: str, doc: str, call: Callable[[AdminClient, str], dict[str, Any]]) -> None:
    """Register `tollway admin NAME USERNAME`: one admin API call on one user, then its new state."""

    def command(
        username: UsernameArg,
        state_dir: StateDirOpt = Path(".tollway"),
        admin_url: AdminUrlOpt = None,
        token: TokenOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        with admin(state_dir, admin_url, token) as client:
            result = call(client, username)
        _print_user(result, verb, as_json)

    command.__doc__ = doc
    app.command(name)(command)


_user_action("disable-user", "disabled", "Stop a user from signing in (their account and password are kept).",
             AdminClient.disable_user)  # fmt: skip
_user_action("enable-user", "enabled", "Let a disabled user sign in again.", AdminClient.enable_user)
_user_action("delete-user", "deleted", "Delete a user.", AdminClient.delete_user)

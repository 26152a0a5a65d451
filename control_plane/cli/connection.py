"""How every admin command finds and calls the admin API, and the options they share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer

from control_plane.admin_client import AdminClient, AdminClientError

__all__ = [
    "AdminUrlOpt",
    "JsonOpt",
    "StateDirOpt",
    "TokenOpt",
    "admin",
    "call",
    "fail",
    "make_client",
]

JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]
StateDirOpt = Annotated[Path, typer.Option(envvar="TOLLWAY_STATE_DIR", help="where `tollway up` keeps state")]
AdminUrlOpt = Annotated[str | None, typer.Option(envvar="TOLLWAY_ADMIN_URL", help="admin API base URL")]
TokenOpt = Annotated[str | None, typer.Option(envvar="TOLLWAY_ADMIN_TOKEN", help="admin token")]


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def make_client(state_dir: Path, admin_url: str | None, token: str | None) -> AdminClient:
    """Admin URL and token from the options/env, else from the state `tollway up` wrote."""
    stack_file = state_dir / "stack.json"
    stack: dict[str, Any] = orjson.loads(stack_file.read_bytes()) if stack_file.exists() else {}
    url = admin_url or stack.get("admin_url") or "http://127.0.0.1:8081"
    token_file = state_dir / "admin-token"
    secret = token or (token_file.read_text().strip() if token_file.exists() else None)
    if not secret:
        fail("no admin token: pass --token, set TOLLWAY_ADMIN_TOKEN, or run `tollway up` in this directory")
    return AdminClient(url, secret)


@contextmanager
def admin(state_dir: Path, admin_url: str | None, token: str | None) -> Iterator[AdminClient]:
    """A client for one command; an API refusal ends the command with its message and exit code 1."""
    client = make_client(state_dir, admin_url, token)
    try:
        yield client
    except AdminClientError as exc:
        fail(str(exc))
    finally:
        client.close()


def call(state_dir: Path, admin_url: str | None, token: str | None, what: str, *args: Any) -> dict[str, Any]:
    with admin(state_dir, admin_url, token) as client:
        result: dict[str, Any] = getattr(client, what)(*args)
        return result

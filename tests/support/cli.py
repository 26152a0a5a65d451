"""Running the `tollway` CLI in unit tests against an in-process admin app (`AdminHarness`)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from click.testing import Result
from typer.testing import CliRunner

from control_plane.cli import connection, main
from tests.support.fakes import ADMIN_TOKEN, AdminHarness, FakeClock

__all__ = ["cli_harness", "invoke", "run", "run_failing"]


def cli_harness(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> AdminHarness:
    """An admin app over fakes that every CLI command in the test talks to."""
    harness = AdminHarness(clock=clock)
    monkeypatch.setattr(connection, "AdminClient", lambda _url, _token: harness.admin_client())
    monkeypatch.setenv("TOLLWAY_ADMIN_TOKEN", ADMIN_TOKEN)
    return harness


def invoke(*args: str, stdin: str | None = None, never_shown: Iterable[str] = ()) -> Result:
    """Run `tollway ARGS`; fails the test if the output shows any of `never_shown` (secrets)."""
    result = CliRunner().invoke(main.app, list(args), input=stdin)
    for secret in never_shown:
        assert secret not in result.output
    return result


def run(*args: str, stdin: str | None = None, never_shown: Iterable[str] = ()) -> str:
    """stdout of a command that must succeed."""
    result = invoke(*args, stdin=stdin, never_shown=never_shown)
    assert result.exit_code == 0, result.output
    return result.stdout


def run_failing(*args: str, stdin: str | None = None, never_shown: Iterable[str] = ()) -> str:
    """The output of a command that must fail with exit code 1."""
    result = invoke(*args, stdin=stdin, never_shown=never_shown)
    assert result.exit_code == 1, result.output
    return result.output

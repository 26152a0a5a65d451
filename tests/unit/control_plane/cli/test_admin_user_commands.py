"""`tollway admin create-user|users|set-password|disable-user|enable-user|delete-user` against the real
admin app over in-memory fakes: passwords come from stdin or a hidden prompt and are never printed."""

import orjson
import pytest

from control_plane.cli import admin_users
from control_plane.model import Plan, Tenant
from tests.support import cli
from tests.support.fakes import AdminHarness

PASSWORD = "correct horse battery"
OTHER = "another long password"


SECRETS = (PASSWORD, OTHER, "$argon2")


def run(*args: str, stdin: str | None = None) -> str:
    return cli.run(*args, stdin=stdin, never_shown=SECRETS)


def run_failing(*args: str, stdin: str | None = None) -> str:
    return cli.run_failing(*args, stdin=stdin, never_shown=SECRETS)


async def _signs_in(harness: AdminHarness, username: str, password: str) -> bool:
    return await harness.users.authenticate(username, password) is not None


async def test_create_user_with_password_stdin_and_list(harness: AdminHarness) -> None:
    out = run("admin", "create-user", "alice", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert out.strip() == "created: user alice (role admin)"
    assert await _signs_in(harness, "alice", PASSWORD)
    created = orjson.loads(
        run("admin", "create-user", "bob", "--role", "viewer", "--password-stdin", "--json", stdin=OTHER)
    )
    assert created == {
        "username": "bob", "role": "viewer", "tenant": None, "disabled": False,
        "created_at": "2026-11-21T12:00:00Z",
    }  # fmt: skip
    lines = run("admin", "users").splitlines()
    assert lines[0].split() == ["USERNAME", "ROLE", "TENANT", "DISABLED", "CREATED"]
    assert lines[1].split() == ["alice", "admin", "-", "no", "2026-11-21T12:00:00Z"]
    assert lines[2].split() == ["bob", "viewer", "-", "no", "2026-11-21T12:00:00Z"]
    listed = orjson.loads(run("admin", "users", "--json"))
    assert [u["username"] for u in listed["users"]] == ["alice", "bob"]


async def test_create_user_prompts_twice_on_a_terminal(
    harness: AdminHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_users, "_is_terminal", lambda: True)
    out = run("admin", "create-user", "alice", "--role", "admin", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert "created: user alice" in out
    assert await _signs_in(harness, "alice", PASSWORD)
    mismatch = run("admin", "set-password", "alice", stdin=f"{OTHER}\nsomething else!\n{OTHER}\n{OTHER}\n")
    assert "password changed: user alice" in mismatch
    assert await _signs_in(harness, "alice", OTHER)


def test_without_a_terminal_the_password_must_come_from_stdin(harness: AdminHarness) -> None:
    out = run_failing("admin", "create-user", "alice", "--role", "admin", stdin=PASSWORD + "\n")
    assert "--password-stdin" in out
    assert harness.user_store.users == {}


def test_the_password_policy_is_checked_before_any_call(harness: AdminHarness) -> None:
    out = run_failing("admin", "create-user", "alice", "--role", "admin", "--password-stdin", stdin="short\n")
    assert "at least 12 characters" in out
    assert "short" not in out
    out = run_failing("admin", "create-user", "alice", "--role", "admin", "--password-stdin", stdin="\n")
    assert "the password is empty" in out
    assert harness.user_store.users == {}


def test_tenant_users(harness: AdminHarness) -> None:
    out = run_failing("admin", "create-user", "carol", "--role", "tenant", "--password-stdin", stdin=PASSWORD)
    assert "needs --tenant" in out
    args = ("admin", "create-user", "carol", "--role", "tenant", "--tenant", "acme", "--password-stdin")
    assert "404: tenant 'acme' is not in the registry" in run_failing(*args, stdin=PASSWORD)
    api = harness.admin_client()
    api.put_plan(Plan.model_validate({"name": "gold", "billing": {"kind": "per_token"}}))
    api.put_tenant(Tenant(id="acme", plan="gold"))
    assert run(*args, stdin=PASSWORD).strip() == "created: user carol (role tenant, tenant acme)"
    assert run("admin", "users").splitlines()[1].split()[:3] == ["carol", "tenant", "acme"]


async def test_set_password_disable_enable_delete(harness: AdminHarness) -> None:
    run("admin", "create-user", "alice", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    args = ("admin", "create-user", "alice", "--role", "viewer", "--password-stdin")
    assert "409: user 'alice' already exists" in run_failing(*args, stdin=OTHER)
    out = run("admin", "set-password", "alice", "--password-stdin", stdin=OTHER + "\n")
    assert out.strip() == "password changed: user alice (role admin)"
    assert await _signs_in(harness, "alice", OTHER)
    assert run("admin", "disable-user", "alice").strip() == "disabled: user alice (role admin)"
    assert run("admin", "users").splitlines()[1].split()[3] == "yes"
    assert not await _signs_in(harness, "alice", OTHER)
    assert orjson.loads(run("admin", "enable-user", "alice", "--json"))["disabled"] is False
    assert await _signs_in(harness, "alice", OTHER)
    assert run("admin", "delete-user", "alice").strip() == "deleted: user alice (role admin)"
    assert "404: user 'alice' does not exist" in run_failing("admin", "delete-user", "alice")
    assert run("admin", "users").splitlines() == ["USERNAME  ROLE  TENANT  DISABLED  CREATED"]


def test_there_is_no_password_argument(harness: AdminHarness) -> None:
    result = cli.invoke(
        "admin", "create-user", "alice", "--role", "admin", "--password", PASSWORD, never_shown=SECRETS
    )
    assert result.exit_code == 2
    assert harness.user_store.users == {}

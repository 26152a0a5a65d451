"""`tollway credentials …` against the real admin app over in-memory fakes: values never echoed."""

from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from typer.testing import CliRunner

from control_plane.cli import connection, main
from control_plane.model import Backend, Model
from control_plane.secret_box import SecretBox, generate_key
from tests.support.fakes import ADMIN_TOKEN, AdminHarness, FakeClock

VALUE = "sk-proj-SECRETSECRETSECRET-wxyz"
KEY = generate_key()


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[AdminHarness]:
    harness = AdminHarness(clock=FakeClock(datetime(2026, 11, 21, tzinfo=UTC)))
    harness.app.state.secret_box = SecretBox(SecretStr(KEY))
    monkeypatch.setattr(connection, "AdminClient", lambda _url, _token: harness.admin_client())
    monkeypatch.setenv("TOLLWAY_ADMIN_TOKEN", ADMIN_TOKEN)
    return harness


def invoke(*args: str, input: str | None = None, code: int = 0) -> str:
    result = CliRunner().invoke(main.app, list(args), input=input)
    assert result.exit_code == code, result.output
    assert "SECRETSECRET" not in result.output
    return result.output


def _stored(harness: AdminHarness, name: str) -> str:
    credential = harness.store.snapshot.spec.credential(name)
    assert credential is not None
    return SecretBox(SecretStr(KEY)).open(credential.sealed_value)


def test_set_from_env_and_stdin_then_list(harness: AdminHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_KEY", VALUE)
    out = invoke("credentials", "set", "openai", "--value-from-env", "OPENAI_KEY")
    assert out == "set: credential openai (authorization: Bearer …wxyz, registry version 1)\n"
    assert _stored(harness, "openai") == VALUE
    out = invoke("credentials", "set", "azure", "--header", "api-key", "--prefix", "", "--value-stdin",
                 input="azure-SECRETSECRETSECRET-9876\n")  # fmt: skip
    assert out == "set: credential azure (api-key: …9876, registry version 2)\n"
    assert _stored(harness, "azure") == "azure-SECRETSECRETSECRET-9876"  # the trailing newline is dropped
    listed = invoke("credentials", "list").splitlines()
    assert listed[0].split() == ["CREDENTIAL", "HEADER", "VALUE", "UPDATED", "USED", "BY"]
    assert listed[1].split()[:4] == ["openai", "authorization", "Bearer", "…wxyz"]
    assert listed[2].split()[:3] == ["azure", "api-key", "…9876"]
    as_json = orjson.loads(invoke("credentials", "list", "--json"))
    assert [(c["name"], c["hint"], c["used_by"]) for c in as_json["credentials"]] == [
        ("openai", "…wxyz", []), ("azure", "…9876", [])]  # fmt: skip


def test_rotation_keeps_the_header(harness: AdminHarness) -> None:
    invoke("credentials", "set", "azure", "--header", "api-key", "--value-stdin", input=VALUE)
    out = invoke("credentials", "set", "azure", "--value-stdin", input="new-SECRETSECRETSECRET-1111")
    assert out == "set: credential azure (api-key: Bearer …1111, registry version 2)\n"
    assert _stored(harness, "azure") == "new-SECRETSECRETSECRET-1111"


def test_the_value_source_must_be_exactly_one(monkeypatch: pytest.MonkeyPatch, harness: AdminHarness) -> None:
    assert "give exactly one of --value-from-env VAR and --value-stdin" in invoke(
        "credentials", "set", "openai", code=1
    )
    monkeypatch.setenv("OPENAI_KEY", VALUE)
    assert "give exactly one" in invoke(
        "credentials", "set", "openai", "--value-from-env", "OPENAI_KEY", "--value-stdin", code=1
    )
    monkeypatch.delenv("NOPE_KEY", raising=False)
    assert "environment variable NOPE_KEY is not set or empty" in invoke(
        "credentials", "set", "openai", "--value-from-env", "NOPE_KEY", code=1
    )
    assert "the credential value is empty" in invoke(
        "credentials", "set", "x", "--value-stdin", input="\n", code=1
    )
    assert "No such option: --value" in invoke("credentials", "set", "openai", "--value", VALUE, code=2)
    assert harness.store.snapshot.version == 0


def test_refusals_show_the_api_message_without_the_value(harness: AdminHarness) -> None:
    bad = invoke("credentials", "set", "openai", "--value-stdin", input="\t" + VALUE, code=1)
    assert "422: value: value must be printable ASCII without leading or trailing spaces" in bad
    invoke("credentials", "set", "openai", "--value-stdin", input=VALUE)
    harness.admin_client().put_model(
        Model(
            name="gpt",
            backends=(Backend(name="b", base_url="https://h/v1"),),
            upstream_credentials=("openai",),
        )
    )
    in_use = invoke("credentials", "delete", "openai", code=1)
    assert "422: credential 'openai' is used by model(s) 'gpt'" in in_use
    harness.admin_client().remove_model("gpt")
    assert invoke("credentials", "delete", "openai") == "removed: credential openai (registry version 4)\n"
    harness.app.state.secret_box = None
    assert "503: no secret key is configured" in invoke(
        "credentials", "set", "x", "--value-stdin", input=VALUE, code=1
    )


def test_generate_key_prints_a_fernet_key() -> None:
    key = invoke("credentials", "generate-key").strip()
    assert len(key) == 44
    Fernet(key.encode())

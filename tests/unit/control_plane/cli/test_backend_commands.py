"""`tollway backends register|list|deregister` against the real admin app over in-memory fakes."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from admin_ui.app import create_app
from control_plane.admin_client import AdminClient
from control_plane.cli import backend, connection, main
from control_plane.keystore import KeyStore
from control_plane.model import Backend, Model, RegistrationPolicy
from control_plane.registrations import Registrations
from control_plane.registry import Registry
from tests.support.fakes import (
    FakeClock,
    MemoryKeyRecords,
    MemoryRegistryStore,
    MemoryUsageReader,
    MemoryXdsStatusStore,
)
from tests.support.registration_fakes import MemoryRegistrationStore

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
REGISTRATION_TOKEN = "r" * 32
ARGS = ("--model", "llama", "--name", "gpu2", "--base-url", "http://10.0.0.2:8000/v1")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[AdminClient]:
    registry = Registry(MemoryRegistryStore())
    static = Backend(name="static", base_url="http://10.0.0.1:8000/v1")
    model = Model(
        name="llama",
        backends=(static,),
        registration=RegistrationPolicy(allowed_networks=("10.0.0.0/8", "127.0.0.0/8")),
    )
    app = create_app(
        registry_port=registry,
        xds_status=MemoryXdsStatusStore([]),
        keys_port=KeyStore(MemoryKeyRecords(), registry),
        usage_port=MemoryUsageReader(),
        admin_token="a" * 32,
        registrations_port=Registrations(MemoryRegistrationStore(clock), registry),
        registration_token=REGISTRATION_TOKEN,
    )
    TestClient(app, base_url="http://admin").put(
        "/admin/v1/models/llama",
        json=model.model_dump(mode="json"),
        headers={"Authorization": f"Bearer {'a' * 32}"},
    )

    def make(_url: str, token: str) -> AdminClient:
        """A real AdminClient whose HTTP goes to the app in-process (TestClient is an httpx.Client)."""
        admin = AdminClient("http://admin", token)
        admin._http.close()
        admin._http = TestClient(app, base_url="http://admin", headers={"Authorization": f"Bearer {token}"})
        return admin

    monkeypatch.setattr(connection, "AdminClient", make)
    monkeypatch.setenv("TOLLWAY_REGISTRATION_TOKEN", REGISTRATION_TOKEN)
    monkeypatch.delenv("TOLLWAY_ADMIN_TOKEN", raising=False)
    admin = make("http://admin", REGISTRATION_TOKEN)
    yield admin
    admin.close()


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main.app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_register_list_and_deregister(client: AdminClient) -> None:
    out = run("backends", "register", *ARGS, "--weight", "3", "--ttl", "6s")
    assert out == "registered: llama/gpu2 (http://10.0.0.2:8000/v1) until 2026-11-21T12:00:06Z\n"
    listed = orjson.loads(run("backends", "list", "--json"))
    assert [(r["backend"]["name"], r["backend"]["weight"], r["ttl_s"]) for r in listed["registrations"]] == [
        ("gpu2", 3, 6.0)
    ]
    assert "gpu2" in run("backends", "list", "--model", "llama")
    assert run("backends", "deregister", "--model", "llama", "--name", "gpu2") == "deregistered: llama/gpu2\n"
    assert (
        run("backends", "deregister", "--model", "llama", "--name", "gpu2") == "not registered: llama/gpu2\n"
    )


def test_refusals_end_the_command_with_the_api_message(client: AdminClient) -> None:
    out = run("backends", "register", *ARGS[:4], "--base-url", "http://gpu.internal:8000/v1", code=1)
    assert "422: backend 'gpu2': a registered backend must be addressed by an IP literal" in out
    assert "must be shorter than --ttl" in run("backends", "register", *ARGS, "--every", "20s", code=1)


def test_heartbeat_registers_every_period_and_survives_errors(
    client: AdminClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    beats: list[str] = []
    errors: list[str] = []
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(timedelta(seconds=seconds))
        if len(sleeps) == 2:  # the admin API refuses one heartbeat: the loop goes on
            monkeypatch.setattr(client, "register_backend", _refuse)

    gpu2 = Backend(name="gpu2", base_url="http://10.0.0.2:8000/v1")
    original = client.register_backend

    def _refuse(*_args: object) -> dict[str, object]:
        monkeypatch.setattr(client, "register_backend", original)
        raise backend.AdminClientError("503: down", 503)

    backend.heartbeat(
        client, "llama", gpu2, 6.0, 2.0,
        on_beat=lambda r: beats.append(r["expires_at"]), on_error=lambda e: errors.append(str(e)),
        sleep=sleep, beats=3,
    )  # fmt: skip
    assert sleeps == [2.0, 2.0, 2.0]
    assert beats == ["2026-11-21T12:00:06Z", "2026-11-21T12:00:08Z", "2026-11-21T12:00:12Z"]
    assert errors == ["503: down"]

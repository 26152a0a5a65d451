"""Real processes on free ports: Valkey, admin API, xds, two ext_procs, Envoy and mock upstreams."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from control_plane.admin_client import AdminClient
from control_plane.launcher import Stack, StackInfo, StackSettings
from control_plane.launcher.process import ManagedProcess
from control_plane.launcher.readiness import free_port, http_ok, wait_until
from control_plane.model import Limits
from tests.support.envoy_probe import EnvoyProbe
from tests.support.mock_fleet import MockFleet
from tests.support.stacks import running_stack
from tests.support.tenants import TenantFactory

LEASE_OPTIONS = {"lease_ttl_s": "3", "reconcile_interval_s": "0.5", "reconcile_grace_s": "0.5"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir = tmp_path_factory.mktemp("tollway-state")
    settings = StackSettings(
        state_dir=state_dir,
        listener_port=0,
        admin_port=0,
        ext_proc_workers=2,
        envoys=2,
        demo=True,
        log_level="info",
        # Short leases so that tests can watch reservations expire and be reconciled.
        ext_proc_options=LEASE_OPTIONS,
    )
    with running_stack(settings) as stack:
        yield stack


@pytest.fixture(scope="session")
def info(stack: Stack) -> StackInfo:
    assert stack.info is not None
    return stack.info


@pytest.fixture(scope="session")
def tenants(info: StackInfo) -> Iterator[TenantFactory]:
    admin = AdminClient(info.admin_url, info.admin_token)
    yield TenantFactory(admin)
    admin.close()


@pytest.fixture(scope="session")
def auth(tenants: TenantFactory) -> dict[str, str]:
    """Headers authenticating as a tenant without limits (tests' background load must never hit one)."""
    secret = tenants.create(Limits()).secret
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def admin(info: StackInfo) -> Iterator[AdminClient]:
    client = AdminClient(info.admin_url, info.admin_token)
    yield client
    client.close()


@pytest.fixture
def client(info: StackInfo) -> openai.OpenAI:
    assert info.demo_api_key is not None
    return openai.OpenAI(base_url=info.listener_url, api_key=info.demo_api_key, max_retries=0, timeout=10.0)


@pytest.fixture
def mock_upstream(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Starts extra mock upstreams by name; returns each one's OpenAI base URL."""
    started: list[ManagedProcess] = []

    def start(name: str) -> str:
        port = free_port()
        argv = [sys.executable, "-m", "control_plane.demo.mock_upstream", "--host", "127.0.0.1",
                "--port", str(port), "--name", name]  # fmt: skip
        process = ManagedProcess(name, argv, log_path=tmp_path / f"{name}.log")
        process.start()
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: http_ok(f"{url}/health"), timeout_s=20, alive=process.is_running), (
            process.log_tail()
        )
        return f"{url}/v1"

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[MockFleet]:
    """Mock upstreams this test starts, kills and restarts by name (see tests/support/mock_fleet.py)."""
    with MockFleet(tmp_path) as fleet:
        yield fleet


@pytest.fixture
def probe(info: StackInfo) -> EnvoyProbe:
    """The first Envoy's admin API (counters, hosts and their health)."""
    return EnvoyProbe(info.envoy_admin_urls[0])


@pytest.fixture
def gateway(info: StackInfo, auth: dict[str, str]) -> Iterator[httpx.Client]:
    """The first Envoy's listener, authenticated as a tenant without limits."""
    with httpx.Client(base_url=info.listener_urls[0], headers=auth, timeout=30.0) as client:
        yield client

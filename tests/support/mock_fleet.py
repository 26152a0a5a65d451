"""Mock upstream processes for integration tests, by name, each on its own port that survives restarts.

    @pytest.fixture
    def fleet(tmp_path: Path) -> Iterator[MockFleet]:
        with MockFleet(tmp_path) as fleet:
            yield fleet

    fleet.start("a", "b")                      # both ready on return
    fleet.set_behaviour("a", fail_status=503)  # PUT /mock/behaviour
    fleet.stop("a")                            # SIGKILL: connections to a's port are refused
    fleet.start("a")                           # a fresh process on the same port (startup settings)
    fleet.start("s", tls=(cert, key))          # HTTPS; url("s") is https://127.0.0.1:<port>/v1

Each process logs to `<tmp_path>/<name>.log` (appended across restarts); `log_tail(name)` reads it.
"""

from __future__ import annotations

import ssl
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from control_plane.launcher.process import ManagedProcess
from control_plane.launcher.readiness import free_port, wait_until

__all__ = ["MockFleet", "MockFleetError"]

_HOST = "127.0.0.1"
_READY_TIMEOUT_S = 20.0
_BIND_RETRY_S = 5.0
"""How long `start` keeps relaunching a process that died at once (its port still held elsewhere)."""
_HTTP_TIMEOUT_S = 2.0


class MockFleetError(RuntimeError):
    """A mock process did not come up, or a name is unknown."""


class _Member:
    def __init__(
        self, name: str, port: int, log_path: Path, models: tuple[str, ...], tls: tuple[Path, Path] | None
    ) -> None:
        self.name = name
        self.port = port
        argv = [sys.executable, "-m", "control_plane.demo.mock_upstream", "--host", _HOST,
                "--port", str(port), "--name", name]  # fmt: skip
        for model in models:
            argv += ["--model", model]
        self.scheme = "http"
        verify: ssl.SSLContext | bool = True
        if tls is not None:
            certfile, keyfile = tls
            argv += ["--ssl-certfile", str(certfile), "--ssl-keyfile", str(keyfile)]
            self.scheme = "https"
            # The fleet's own calls pin exactly the served certificate: no CA needed, any names in it.
            verify = ssl.create_default_context(cafile=str(certfile))
            verify.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
            verify.check_hostname = False
        self.process = ManagedProcess(name, argv, log_path=log_path)
        # No keep-alive for control calls: the mock may close an idle connection just as a test reuses it
        # ("Server disconnected without sending a response", seen once in CI).
        self.http = httpx.Client(
            timeout=_HTTP_TIMEOUT_S, verify=verify, limits=httpx.Limits(max_keepalive_connections=0)
        )

    @property
    def root(self) -> str:
        return f"{self.scheme}://{_HOST}:{self.port}"

    def healthy(self) -> bool:
        try:
            return self.http.get(f"{self.root}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False


class MockFleet:
    """Starts, kills and restarts mock upstream processes by name; drives their `/mock/*` routes."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._members: dict[str, _Member] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def names(self) -> list[str]:
        return list(self._members)

    def start(self, *names: str, models: tuple[str, ...] = (), tls: tuple[Path, Path] | None = None) -> None:
        """Start each named mock and wait until all answer `/health`.

        A new name gets a free port; a name seen before starts again on its old port (SO_REUSEADDR lets
        it bind next to connections in TIME_WAIT; a process that dies at once is relaunched for a few
        seconds). `models` (new names only) are listed by `/v1/models`; the default is `mock-model`.
        `tls` (new names only), a PEM `(certfile, keyfile)`, makes them serve HTTPS; the fleet's own calls
        (readiness, `/mock/*`) trust exactly that certificate, whatever names it carries.
        Starting a running mock is an error.
        """
        members = [self._member(name, models, tls) for name in names]
        for member in members:
            if member.process.is_running():
                raise MockFleetError(f"mock {member.name} is already running")
            member.process.start()
        for member in members:
            self._wait_ready(member)

    def stop(self, name: str, *, graceful: bool = False) -> None:
        """Kill the mock (SIGKILL, like a crash); with `graceful`, SIGTERM and let uvicorn shut down."""
        member = self._known(name)
        if graceful:
            member.process.stop()
        else:
            member.process.kill()

    def is_running(self, name: str) -> bool:
        return self._known(name).process.is_running()

    def url(self, name: str) -> str:
        """The OpenAI base URL, `http://127.0.0.1:<port>/v1` (`https://` for a mock started with `tls`)."""
        return f"{self._known(name).root}/v1"

    def port(self, name: str) -> int:
        return self._known(name).port

    def set_behaviour(self, name: str, **fields: Any) -> dict[str, Any]:
        """`PUT /mock/behaviour`: these defaults replace the current ones (others: startup values)."""
        return self._call(name, "PUT", "/mock/behaviour", fields)

    def clear_behaviour(self, name: str) -> dict[str, Any]:
        """`DELETE /mock/behaviour`: back to the startup settings."""
        return self._call(name, "DELETE", "/mock/behaviour")

    def behaviour(self, name: str) -> dict[str, Any]:
        return self._call(name, "GET", "/mock/behaviour")

    def stats(self, name: str) -> dict[str, Any]:
        """`GET /mock/stats`: counters, `generations` and `arrivals`."""
        return self._call(name, "GET", "/mock/stats")

    def reset(self, name: str) -> dict[str, Any]:
        """`POST /mock/reset`: counters, logs and the fail-times ledger; a behaviour override stays."""
        return self._call(name, "POST", "/mock/reset")

    def log_tail(self, name: str, lines: int = 30) -> str:
        return self._known(name).process.log_tail(lines)

    def close(self) -> None:
        """Kill every mock and close the HTTP clients; the fleet is done."""
        for member in self._members.values():
            member.process.kill()
            member.http.close()

    def _member(self, name: str, models: tuple[str, ...], tls: tuple[Path, Path] | None) -> _Member:
        member = self._members.get(name)
        if member is None:
            log_path = self._log_dir / f"{name}.log"
            member = _Member(name, free_port(_HOST), log_path, models, tls)
            self._members[name] = member
        return member

    def _known(self, name: str) -> _Member:
        try:
            return self._members[name]
        except KeyError:
            raise MockFleetError(f"no mock named {name!r}; started: {self.names}") from None

    def _wait_ready(self, member: _Member) -> None:
        relaunch_until = time.monotonic() + _BIND_RETRY_S
        while True:
            process = member.process
            if wait_until(member.healthy, timeout_s=_READY_TIMEOUT_S, alive=process.is_running):
                return
            if process.is_running() or time.monotonic() > relaunch_until:
                process.kill()
                tail = process.log_tail()
                raise MockFleetError(f"mock {member.name} did not start on port {member.port}:\n{tail}")
            time.sleep(0.2)
            process.start()

    def _call(self, name: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        member = self._known(name)
        reply = member.http.request(method, f"{member.root}{path}", json=body)
        reply.raise_for_status()
        answer: dict[str, Any] = reply.json()
        return answer

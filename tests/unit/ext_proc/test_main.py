"""`python -m ext_proc` as a real process: it listens on its port and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "ext_proc exited early"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"ext_proc did not listen on {port}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_module_serves_and_stops_on_signal(signum: signal.Signals) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TOLLWAY_EXT_PROC_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nobody listens: no snapshot
        "TOLLWAY_EXT_PROC_SNAPSHOT_WAIT_S": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ext_proc", "--port", str(port), "--log-level", "info"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = output.decode()
    assert process.returncode == 0, text
    assert f"ext_proc listening on 127.0.0.1:{port}" in text
    assert "stopped" in text
    assert "Traceback" not in text

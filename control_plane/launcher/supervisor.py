"""Runs several Python services as child processes of one container (the compose control plane:
the admin API/UI and xds), the way an init would: their output is this process's, SIGTERM is passed
on (SIGINT from a terminal already reached the whole process group), and when one child exits the
others are stopped and its exit code is returned (so the container stops and its restart policy
applies, rather than running half a control plane)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

__all__ = ["CONTROL_PLANE_SERVICES", "supervise"]

CONTROL_PLANE_SERVICES = ("admin_ui", "xds")
"""Modules run with `python -m` by `tollway control-plane`; each reads its own TOLLWAY_<NAME>_* env."""

_POLL_S = 0.2


def supervise(modules: Sequence[str], *, stop_timeout_s: float = 15.0) -> int:
    """Start `python -m <module>` for each module; return the first exit code (0 after a signal)."""
    stopping: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    # Handlers first: a SIGTERM while the children start must not orphan them.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    children: list[subprocess.Popen[bytes]] = []
    try:
        for module in modules:
            children.append(subprocess.Popen([sys.executable, "-m", module]))
        code = 0
        while not stopping:
            ended = [child for child in children if child.poll() is not None]
            if ended:
                code = ended[0].returncode or 1  # a service that stops on its own is a failure
                break
            time.sleep(_POLL_S)
        # After SIGINT the children got their own (same process group): a second one would force-quit.
        forward = None if stopping and stopping[0] == signal.SIGINT else signal.SIGTERM
        _stop(children, forward, stop_timeout_s)
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(children: Sequence[subprocess.Popen[bytes]], signum: int | None, timeout_s: float) -> None:
    if signum is not None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)
    deadline = time.monotonic() + timeout_s
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

"""`tollway control-plane`'s supervisor: children share its fate, signals are passed on."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from control_plane.launcher.supervisor import CONTROL_PLANE_SERVICES, supervise


def _module(tmp_path: Path, name: str, body: str, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / f"{name}.py").write_text(body)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return name


def test_the_control_plane_is_the_admin_api_and_xds() -> None:
    assert CONTROL_PLANE_SERVICES == ("admin_ui", "xds")


def test_when_one_child_exits_the_other_is_stopped_and_its_code_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready, marker = tmp_path / "ready", tmp_path / "stopped"
    # The failing child waits until the other one handles SIGTERM (a slow runner must not race it).
    failing = _module(
        tmp_path,
        "fails_soon",
        f"import os, sys, time\n"
        f"while not os.path.exists({str(ready)!r}):\n    time.sleep(0.02)\n"
        f"sys.exit(3)\n",
        monkeypatch,
    )
    lasting = _module(
        tmp_path,
        "lasts",
        f"import signal, sys, time\n"
        f"def stop(*_):\n    open({str(marker)!r}, 'w').write('term')\n    sys.exit(0)\n"
        f"signal.signal(signal.SIGTERM, stop)\nopen({str(ready)!r}, 'w').write('ready')\ntime.sleep(60)\n",
        monkeypatch,
    )
    started = time.monotonic()
    assert supervise([failing, lasting], stop_timeout_s=10) == 3
    assert time.monotonic() - started < 10
    assert marker.read_text() == "term"


def test_a_child_that_exits_cleanly_still_stops_the_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _module(tmp_path, "done", "pass\n", monkeypatch)
    lasting = _module(tmp_path, "sleeps", "import time\ntime.sleep(60)\n", monkeypatch)
    assert supervise([done, lasting], stop_timeout_s=5) == 1


def test_sigterm_is_passed_on_and_ends_with_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeper = _module(tmp_path, "sleeper", "import time\ntime.sleep(60)\n", monkeypatch)
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    started = time.monotonic()
    assert supervise([sleeper, sleeper], stop_timeout_s=10) == 0
    assert time.monotonic() - started < 10

"""`tollway up` as a user runs it: JSON summary, CLI commands against it, Ctrl-C leaves no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import openai
import pytest

pytestmark = pytest.mark.integration

TOLLWAY = str(Path(sys.executable).parent / "tollway")


def _children(pid: int) -> set[int]:
    """Direct children of `pid`, read from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cli(state_dir: Path, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [TOLLWAY, *args, "--json", "--state-dir", str(state_dir)],
        capture_output=True, text=True, timeout=30, check=True, stdin=subprocess.DEVNULL,
    ).stdout  # fmt: skip
    result: dict[str, object] = json.loads(out)
    return result


def _check_running_stack(up: subprocess.Popen[str], state_dir: Path) -> set[int]:
    """Reads the JSON summary, uses the stack like a user; returns the launcher's child pids."""
    assert up.stdout is not None
    lines: list[str] = []
    while not (lines and lines[-1].startswith("}")):
        line = up.stdout.readline()
        assert line, "tollway up ended before printing its summary"
        lines.append(line)
    info = json.loads("".join(lines))
    children = _children(up.pid)
    assert len(children) == 7  # valkey, admin, demo upstream, xds, 2 ext_proc, envoy

    client = openai.OpenAI(base_url=info["listener_url"], api_key=info["demo_api_key"], max_retries=0)
    reply = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "[demo-upstream] echo: hi"

    models = _cli(state_dir, "models", "list")
    assert [m["name"] for m in models["models"]] == ["demo"]  # type: ignore[attr-defined]
    nodes = _cli(state_dir, "status")["envoy_nodes"]
    assert isinstance(nodes, list)
    assert len(nodes) == 1
    assert set(nodes[0]["resources"]) == {"cds", "eds", "lds", "rds"}
    assert all(r["acked_version"] for r in nodes[0]["resources"].values())
    return children


def test_up_serves_the_demo_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    argv = [
        TOLLWAY,
        "up",
        "--json",
        "--listener-port",
        "0",
        "--admin-port",
        "0",
        "--state-dir",
        str(state_dir),
    ]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True
    ) as up:
        try:
            children = _check_running_stack(up, state_dir)
        finally:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=30)
    assert up.returncode == 0
    assert [pid for pid in children if _alive(pid)] == []
    assert not (state_dir / "stack.json").exists()
    assert os.stat(state_dir / "admin-token").st_mode & 0o077 == 0

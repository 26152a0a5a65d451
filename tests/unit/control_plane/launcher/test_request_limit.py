"""`tollway up` sizes Envoy's buffers (via xds) and every ext_proc's gRPC limit from one setting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from control_plane.launcher import Stack, StackSettings


def _launched_env(monkeypatch: pytest.MonkeyPatch, settings: StackSettings) -> dict[str, dict[str, str]]:
    launched: dict[str, dict[str, str]] = {}

    def launch(
        _self: Stack, name: str, _argv: list[str], _ready: Callable[[], bool], env: dict[str, str]
    ) -> None:
        launched[name] = env

    monkeypatch.setattr(Stack, "_launch", launch)
    stack = Stack(settings)
    stack._start_xds("redis://127.0.0.1:1/0")
    stack._start_ext_proc(0, "redis://127.0.0.1:1/0")
    return launched


def test_the_default_limit_reaches_xds_and_ext_proc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    launched = _launched_env(monkeypatch, StackSettings(state_dir=tmp_path))
    assert launched["xds"]["TOLLWAY_XDS_MAX_REQUEST_BYTES"] == str(8 * 1024 * 1024)
    assert launched["ext_proc-0"]["TOLLWAY_EXT_PROC_MAX_REQUEST_BYTES"] == str(8 * 1024 * 1024)


def test_one_setting_wins_over_an_ext_proc_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOLLWAY_MAX_REQUEST_BYTES", "20000000")
    settings = StackSettings(state_dir=tmp_path, ext_proc_options={"max_request_bytes": "1024"})
    launched = _launched_env(monkeypatch, settings)
    assert launched["xds"]["TOLLWAY_XDS_MAX_REQUEST_BYTES"] == "20000000"
    assert launched["ext_proc-0"]["TOLLWAY_EXT_PROC_MAX_REQUEST_BYTES"] == "20000000"

"""The launcher's secret key: made once per state dir (0600), passed to admin and xds by environment."""

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from control_plane.launcher import StackSettings
from control_plane.launcher.stack import Stack, StackStartError, _secret_key
from control_plane.secret_box import SecretBox, generate_key


def test_generated_once_per_state_dir_with_mode_0600(tmp_path: Path) -> None:
    settings = StackSettings(state_dir=tmp_path)
    key = _secret_key(settings)
    path = tmp_path / "secret-key"
    assert path.read_text() == key + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _secret_key(settings) == key  # never regenerated over an existing one
    SecretBox(SecretStr(key))


def test_the_setting_wins_and_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv("TOLLWAY_SECRET_KEY", key)
    settings = StackSettings(state_dir=tmp_path)
    assert _secret_key(settings) == key
    assert not (tmp_path / "secret-key").exists()
    assert key not in repr(settings)


def test_a_readable_key_file_is_tightened_and_a_bad_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret-key"
    key = generate_key()
    path.write_text(key + "\n")
    path.chmod(0o644)
    assert _secret_key(StackSettings(state_dir=tmp_path)) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("garbage-SECRET\n")
    with pytest.raises(StackStartError, match="secret key number 1 of 1 is malformed") as error:
        _secret_key(StackSettings(state_dir=tmp_path))
    assert "garbage-SECRET" not in str(error.value)


def test_admin_and_xds_get_the_same_key_in_their_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched: dict[str, dict[str, str]] = {}

    def launch(
        _self: Stack, name: str, _argv: list[str], _ready: Callable[[], bool], env: dict[str, str]
    ) -> None:
        launched[name] = env

    monkeypatch.setattr(Stack, "_launch", launch)
    stack = Stack(StackSettings(state_dir=tmp_path, admin_port=0))
    stack._secret_key = _secret_key(stack.settings)
    stack._start_admin("redis://127.0.0.1:1/0", "t" * 32)
    stack._start_xds("redis://127.0.0.1:1/0")
    key = (tmp_path / "secret-key").read_text().strip()
    assert launched["admin"]["TOLLWAY_ADMIN_SECRET_KEY"] == key
    assert launched["xds"]["TOLLWAY_XDS_SECRET_KEY"] == key

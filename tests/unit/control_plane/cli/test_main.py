from pathlib import Path
from unittest import mock

import pytest
from typer.testing import CliRunner

from control_plane.cli import main


def test_up_takes_defaults_from_settings_env_and_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOLLWAY_DEMO", "false")
    monkeypatch.setenv("TOLLWAY_STATE_DIR", str(tmp_path))
    with mock.patch.object(main, "run_up") as run_up:
        result = CliRunner().invoke(main.app, ["up", "--workers", "3", "--json"])
    assert result.exit_code == 0, result.output
    settings = run_up.call_args.args[0]
    assert (settings.demo, settings.ext_proc_workers, settings.state_dir) == (False, 3, tmp_path)
    assert (settings.listener_port, settings.admin_port) == (8080, 8081)
    assert run_up.call_args.kwargs == {"as_json": True}


def test_apply_refuses_an_invalid_file_before_calling_the_api(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text("models:\n  - name: a\n    backends: [{name: b, base_url: 'ftp://x'}]\n")
    result = CliRunner().invoke(main.app, ["apply", "-f", str(registry), "--token", "t" * 32])
    assert result.exit_code == 1
    assert "http:// or https://" in result.output


def test_commands_without_a_token_say_how_to_get_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main.app, ["models", "list", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no admin token" in result.output

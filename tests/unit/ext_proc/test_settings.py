"""ExtProcSettings from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from control_plane.model import GRPC_MESSAGE_HEADROOM_BYTES
from ext_proc.settings import ExtProcSettings


@pytest.mark.parametrize("level", ["debug", "WARNING"])
def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    monkeypatch.setenv("TOLLWAY_EXT_PROC_PORT", "18099")
    monkeypatch.setenv("TOLLWAY_EXT_PROC_LOG_LEVEL", level)
    monkeypatch.setenv("TOLLWAY_EXT_PROC_USE_UVLOOP", "false")
    settings = ExtProcSettings()
    assert settings.port == 18099
    assert settings.log_level == level.upper()
    assert settings.use_uvloop is False
    assert settings.max_request_bytes == 8 * 1024 * 1024
    assert settings.max_message_bytes == 17 * 1024 * 1024  # twice the body limit + 1 MiB of envelope
    assert settings.snapshot_wait_s == 10
    assert (settings.host, settings.redis_url) == ("127.0.0.1", "redis://127.0.0.1:6379/0")


def test_explicit_values_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLWAY_EXT_PROC_PORT", "18099")
    assert ExtProcSettings(port=18081).port == 18081


@pytest.mark.parametrize(
    "field", [{"port": 70000}, {"log_level": "LOUD"}, {"max_request_bytes": 10}, {"colour": 1}]
)
def test_invalid_settings_are_refused(field: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ExtProcSettings(**field)


def test_one_setting_sizes_the_grpc_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLWAY_EXT_PROC_MAX_REQUEST_BYTES", str(20_000_000))
    settings = ExtProcSettings()
    assert settings.max_request_bytes == 20_000_000
    assert settings.max_message_bytes == 40_000_000 + GRPC_MESSAGE_HEADROOM_BYTES

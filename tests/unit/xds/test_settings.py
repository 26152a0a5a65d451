"""XdsSettings: environment prefix, defaults, and what translation receives."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from xds.settings import XdsSettings
from xds.translate import TranslateOptions


def test_defaults() -> None:
    settings = XdsSettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 18000)
    assert (settings.listener_host, settings.listener_port) == ("127.0.0.1", 8080)
    assert settings.ext_proc_cluster == "tollway_ext_proc"
    assert settings.max_request_bytes == 8 * 1024 * 1024
    assert settings.instance_id


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLWAY_XDS_PORT", "19000")
    monkeypatch.setenv("TOLLWAY_XDS_LISTENER_PORT", "8181")
    monkeypatch.setenv("TOLLWAY_XDS_INSTANCE_ID", "xds-7")
    settings = XdsSettings()
    assert settings.port == 19000
    assert settings.listener_port == 8181
    assert settings.instance_id == "xds-7"


def test_translate_options_carry_the_listener_and_ext_proc_knobs() -> None:
    settings = XdsSettings(
        listener_host="0.0.0.0",
        listener_port=9000,
        ext_proc_cluster="procs",
        ext_proc_message_timeout_ms=1000,
        max_message_timeout_ms=5000,
        max_request_bytes=2048,
    )
    assert settings.translate_options() == TranslateOptions(
        listener_host="0.0.0.0",
        listener_port=9000,
        ext_proc_cluster="procs",
        ext_proc_message_timeout_ms=1000,
        max_message_timeout_ms=5000,
        max_request_bytes=2048,
    )


def test_max_message_timeout_cannot_be_below_the_message_timeout() -> None:
    with pytest.raises(ValidationError):
        XdsSettings(ext_proc_message_timeout_ms=3000, max_message_timeout_ms=1000)

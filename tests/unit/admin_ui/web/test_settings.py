"""The UI settings: session lifetimes, Secure cookies, the sign-in CSRF secret, sign-in throttling."""

import os

import pytest
from pydantic import SecretStr

from admin_ui.settings import AdminSettings
from admin_ui.web.csrf import derive_ui_secret

TOKEN = "t" * 32


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the environment: keep the runner's TOLLWAY_ADMIN_* out of these tests."""
    for name in list(os.environ):
        if name.startswith("TOLLWAY_ADMIN_"):
            monkeypatch.delenv(name)


def test_settings_derive_the_secret_unless_one_is_configured() -> None:
    derived = AdminSettings(token=SecretStr(TOKEN))
    assert derived.login_csrf_secret() == derive_ui_secret(TOKEN)
    configured = AdminSettings(token=SecretStr(TOKEN), ui_secret=SecretStr("u" * 32))
    assert configured.login_csrf_secret() == b"u" * 32
    assert "u" * 32 not in repr(configured)


@pytest.mark.parametrize(
    ("host", "cookie_secure", "secure"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("10.1.2.3", None, True),
        ("admin.example.com", None, True),
        ("127.0.0.1", True, True),
        ("0.0.0.0", False, False),
    ],
)
def test_cookies_are_secure_unless_on_loopback(host: str, cookie_secure: bool | None, secure: bool) -> None:
    settings = AdminSettings(token=SecretStr(TOKEN), host=host, cookie_secure=cookie_secure)
    assert settings.secure_cookies() is secure


def test_session_settings_defaults_and_checks() -> None:
    settings = AdminSettings(token=SecretStr(TOKEN))
    assert (settings.session_idle_ttl_s, settings.session_absolute_ttl_s) == (8 * 3600, 24 * 3600)
    assert (settings.login_max_failures, settings.login_window_s) == (5, 900)
    with pytest.raises(ValueError, match="session_absolute_ttl_s"):
        AdminSettings(token=SecretStr(TOKEN), session_idle_ttl_s=7200, session_absolute_ttl_s=3600)

"""CSRF tokens: the session's own token for signed-in forms, a signed double-submit token for sign-in."""

from datetime import UTC, datetime, timedelta

import pytest

from admin_ui.web.csrf import LOGIN_CSRF_MAX_AGE_S, LoginCsrf, csrf_ok, derive_ui_secret
from admin_ui.web.sessions import Session
from control_plane.model.admin_user import AdminRole
from tests.support.fakes import FakeClock

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SECRET = b"s" * 32
TOKEN = "t" * 32
SESSION = Session(username="ada", role=AdminRole.ADMIN, csrf_token="c" * 43, created_at=NOW, last_seen=NOW)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def login_csrf(clock: FakeClock) -> LoginCsrf:
    return LoginCsrf(SECRET, clock=clock)


def test_session_csrf_accepts_its_own_token() -> None:
    assert csrf_ok(SESSION, "c" * 43)


@pytest.mark.parametrize("submitted", [None, "", "c" * 42, "c" * 44, "d" * 43, "ç" * 43, "c" * 1000])
def test_session_csrf_rejects_anything_else(submitted: str | None) -> None:
    assert not csrf_ok(SESSION, submitted)


def test_login_csrf_accepts_a_fresh_token_in_cookie_and_form(login_csrf: LoginCsrf) -> None:
    token = login_csrf.issue()
    assert login_csrf.verify(token, token)
    assert login_csrf.issue() != token  # a nonce in every token


@pytest.mark.parametrize(("cookie", "form"), [(None, "x"), ("x", None), ("", ""), (None, None)])
def test_login_csrf_rejects_missing_values(
    login_csrf: LoginCsrf, cookie: str | None, form: str | None
) -> None:
    assert not login_csrf.verify(cookie, form)


def test_login_csrf_rejects_a_form_value_that_differs_from_the_cookie(login_csrf: LoginCsrf) -> None:
    first, second = login_csrf.issue(), login_csrf.issue()
    assert not login_csrf.verify(first, second)


def test_login_csrf_expires(login_csrf: LoginCsrf, clock: FakeClock) -> None:
    token = login_csrf.issue()
    clock.advance(timedelta(seconds=LOGIN_CSRF_MAX_AGE_S))
    assert login_csrf.verify(token, token)
    clock.advance(timedelta(seconds=1))
    assert not login_csrf.verify(token, token)


def test_login_csrf_rejects_tokens_from_far_in_the_future(login_csrf: LoginCsrf, clock: FakeClock) -> None:
    token = login_csrf.issue()
    clock.advance(timedelta(minutes=-10))
    assert not login_csrf.verify(token, token)


def test_login_csrf_rejects_tampered_tokens(login_csrf: LoginCsrf, clock: FakeClock) -> None:
    token = login_csrf.issue()
    issued, nonce, signature = token.split(".")
    later = str(int(issued) + 3600)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for forged in (
        f"{later}.{nonce}.{signature}",  # a new timestamp under the old signature
        f"{issued}.{nonce}x.{signature}",
        f"{issued}.{nonce}.{flipped}",
        f"{issued}.{nonce}",
        f"{issued}.{signature}",
        "not.a.token",
    ):
        assert not login_csrf.verify(forged, forged), forged


def test_login_csrf_rejects_tokens_signed_with_another_secret(
    login_csrf: LoginCsrf, clock: FakeClock
) -> None:
    other = LoginCsrf(b"o" * 32, clock=clock).issue()
    assert not login_csrf.verify(other, other)


def test_login_csrf_needs_a_real_secret() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        LoginCsrf(b"short")


def test_derived_secret_is_stable_and_not_the_token() -> None:
    secret = derive_ui_secret(TOKEN)
    assert secret == derive_ui_secret(TOKEN)
    assert len(secret) == 32
    assert TOKEN.encode() not in secret
    assert derive_ui_secret("u" * 32) != secret

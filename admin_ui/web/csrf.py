"""Cross-site request forgery defences of the admin UI's forms.

Signed in, every form carries the session's own random token (`Session.csrf_token`), checked with
`csrf_ok`. The sign-in form has no session yet, so it uses a signed double-submit token (`LoginCsrf`):
the same value goes into a cookie and into a hidden field; a post is accepted when both are present,
equal, carry a valid HMAC-SHA256 signature and are younger than `max_age_s`. A forging site can make a
browser post, but it can neither read the cookie nor mint a signed token of its own.

Tokens are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from admin_ui.web.sessions import Session

__all__ = ["LOGIN_CSRF_MAX_AGE_S", "LoginCsrf", "csrf_ok", "derive_ui_secret"]

LOGIN_CSRF_MAX_AGE_S = 3600
_CLOCK_SKEW_S = 60  # a token "from the future" (another admin replica's clock) is accepted this far ahead
_LABEL = b"tollway admin ui login csrf v1"
_MAX_TOKEN_CHARS = 256


def _utc_now() -> datetime:
    return datetime.now(UTC)


def csrf_ok(session: Session, submitted: str | None) -> bool:
    """Whether a form's CSRF field matches its session's token (in constant time)."""
    if not submitted or len(submitted) > _MAX_TOKEN_CHARS:
        return False
    return hmac.compare_digest(session.csrf_token.encode(), submitted.encode())


def derive_ui_secret(admin_token: str) -> bytes:
    """The login-CSRF HMAC secret derived from the admin token (HKDF-SHA256, a fixed label).

    Used when no `ui_secret` is configured: every replica that shares the admin token derives the same
    secret, and the derived value reveals nothing about the token.
    """
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL)
    return hkdf.derive(admin_token.encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LoginCsrf:
    """Issues and checks the sign-in form's double-submit tokens: `<unix seconds>.<nonce>.<signature>`."""

    def __init__(
        self,
        secret: bytes,
        *,
        max_age_s: int = LOGIN_CSRF_MAX_AGE_S,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the login CSRF secret needs at least 16 bytes")
        self._secret = secret
        self._max_age_s = max_age_s
        self._clock = clock

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, _LABEL + b"|" + payload.encode(), hashlib.sha256).digest())

    def issue(self) -> str:
        """A fresh token, to set as a cookie and as the form's hidden field."""
        payload = f"{int(self._clock().timestamp())}.{secrets.token_urlsafe(16)}"
        return f"{payload}.{self._sign(payload)}"

    def verify(self, cookie_value: str | None, form_value: str | None) -> bool:
        """Whether a sign-in post is genuine: cookie and field equal, signed by us, not expired."""
        if not cookie_value or not form_value or len(cookie_value) > _MAX_TOKEN_CHARS:
            return False
        if not hmac.compare_digest(cookie_value.encode(), form_value.encode()):
            return False
        payload, _, signature = cookie_value.rpartition(".")
        issued, _, nonce = payload.partition(".")
        if not nonce or not issued.isascii() or not issued.isdigit():
            return False
        if not hmac.compare_digest(self._sign(payload).encode(), signature.encode()):
            return False
        age_s = self._clock().timestamp() - int(issued)
        return -_CLOCK_SKEW_S <= age_s <= self._max_age_s

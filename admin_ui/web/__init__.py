"""The building blocks of the admin UI's browser side: sessions, CSRF defences, sign-in throttling.

Sessions and throttle counters live in Redis/Valkey (`tw:{admin}:*`, see `control_plane.keys`); the
browser holds only an opaque session cookie and, before signing in, a signed CSRF token.
"""

from __future__ import annotations

from admin_ui.web.csrf import LOGIN_CSRF_MAX_AGE_S, LoginCsrf, csrf_ok, derive_ui_secret
from admin_ui.web.sessions import RedisSessionStore, Session, session_hash
from admin_ui.web.throttle import LoginThrottle, address_key

__all__ = [
    "LOGIN_CSRF_MAX_AGE_S",
    "LoginCsrf",
    "LoginThrottle",
    "RedisSessionStore",
    "Session",
    "address_key",
    "csrf_ok",
    "derive_ui_secret",
    "session_hash",
]

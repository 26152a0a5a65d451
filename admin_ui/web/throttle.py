"""Throttling of failed admin UI sign-ins, per username and per client address, in Redis/Valkey.

Each failure increments two counters that expire `window_s` after the first failure of their window:
`tw:{admin}:login:<username>` and `tw:{admin}:login_ip:<address>` (an IPv6 address counts as its /64,
which one client usually holds whole). A username is refused after `max_failures` failures, an address
after `ip_max_failures` (default 4 x `max_failures`, since several people may share one address), until
the counter expires. A successful sign-in clears the username's counter only: succeeding with one
account must not reset the count of guesses made from that address at others.

Counting usernames that do not exist, too, keeps the throttle from telling which ones do. The price is
that anyone can lock a known username out for `window_s`; the per-address limit still lets its owner
through from elsewhere once the window ends.

If Redis cannot be reached the throttle fails CLOSED: `retry_after` reports a wait, so nobody can guess
passwords unthrottled while the counters are out of reach. Log lines name neither usernames (people
type passwords into that field) nor secrets.
"""

from __future__ import annotations

import ipaddress
import logging

from redis.exceptions import RedisError

from control_plane.keys import admin_login_failures, admin_login_failures_ip
from control_plane.redis_client import RedisClient

__all__ = ["FAIL_CLOSED_RETRY_S", "LoginThrottle", "address_key"]

_log = logging.getLogger(__name__)

FAIL_CLOSED_RETRY_S = 60
"""What `retry_after` answers (at most `window_s`) while Redis is unreachable."""

_MAX_NAME_CHARS = 128  # longer usernames are counted by their first 128 characters

# INCR each key; give it the window's TTL if it has none (the first failure, or a key left without one).
_FAIL = """
for i, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[1]) end
end
return 1
"""


def address_key(ip: str | None) -> str:
    """The form in which a client address is counted: IPv4 as is, IPv6 as its /64 network."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _name(username: str) -> str:
    return username.strip().lower()[:_MAX_NAME_CHARS]


class LoginThrottle:
    """Failed sign-in counters with a fixed window; Redis's TTLs are the clock."""

    def __init__(
        self,
        client: RedisClient,
        *,
        max_failures: int = 5,
        window_s: int = 900,
        ip_max_failures: int | None = None,
    ) -> None:
        if max_failures < 1 or window_s < 1:
            raise ValueError("login throttle: max_failures and window_s must be at least 1")
        self._client = client
        self._max_failures = max_failures
        self._ip_max_failures = ip_max_failures if ip_max_failures is not None else 4 * max_failures
        self._window_s = window_s
        self._fail = client.register_script(_FAIL)

    def _keys(self, username: str, ip: str | None) -> tuple[str, str]:
        return admin_login_failures(_name(username)), admin_login_failures_ip(address_key(ip))

    async def retry_after(self, username: str, ip: str | None) -> int:
        """Seconds until this username may try again from this address; 0 = it may try now."""
        user_key, ip_key = self._keys(username, ip)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.get(user_key)
                pipe.ttl(user_key)
                pipe.get(ip_key)
                pipe.ttl(ip_key)
                user_count, user_ttl, ip_count, ip_ttl = await pipe.execute()
        except (RedisError, OSError) as exc:
            _log.warning(
                "login throttle: Redis/Valkey unreachable (%s); refusing sign-ins", type(exc).__name__
            )
            return min(FAIL_CLOSED_RETRY_S, self._window_s)
        wait = 0
        if user_count is not None and int(user_count) >= self._max_failures:
            wait = max(wait, self._wait(user_ttl))
        if ip_count is not None and int(ip_count) >= self._ip_max_failures:
            wait = max(wait, self._wait(ip_ttl))
        return wait

    def _wait(self, ttl: int) -> int:
        """The wait a counter's TTL means: -2 (just expired) = none, -1 (no TTL: never left so) = a window."""
        if ttl == -2:
            return 0
        return self._window_s if ttl < 0 else max(1, int(ttl))

    async def failed(self, username: str, ip: str | None) -> None:
        """Count one failed sign-in against the username and the address (errors are logged only)."""
        try:
            await self._fail(keys=list(self._keys(username, ip)), args=[self._window_s])
        except (RedisError, OSError) as exc:
            _log.warning("login throttle: could not count a failed sign-in (%s)", type(exc).__name__)

    async def succeeded(self, username: str) -> None:
        """Clear the username's failures after a successful sign-in (errors are logged only)."""
        try:
            await self._client.delete(admin_login_failures(_name(username)))
        except (RedisError, OSError) as exc:
            _log.warning("login throttle: could not clear failures (%s)", type(exc).__name__)

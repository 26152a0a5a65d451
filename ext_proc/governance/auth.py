"""API-key authentication: the `Authenticator` the processors call, backed by Redis and a local cache.

A key arrives as `Authorization: Bearer <key>`, else `api-key` (Azure style), else `x-api-key`. Its
sha-256 is looked up in the `KEYS_BY_HASH` hash; the stored hash is compared with
`hmac.compare_digest`; the key's state (`ApiKey.state(now)`) must be active. Unknown, expired and
revoked keys all get the same 401, so a caller learns nothing about which it was. A rotated key is
just a key whose `expires_at` is the end of its grace period: nothing special happens here.

Cache coherence (`follow_changes`, a background task): the registry publishes the sha-256 of every
changed key on `KEYS_CHANGES` (evict that entry) and bumps `KEYS_VERSION` (polled every
`poll_interval_s`; any change drops the whole cache, as does every pub/sub reconnect). A lost
message therefore delays a revoke by at most one poll interval (0.5 s by default).

Redis down: cached active keys keep working (their expiry is still checked locally); an unknown key
gets 503 `auth_unavailable` — never let in.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from pydantic import ValidationError
from redis.exceptions import RedisError

from control_plane.keys import KEYS_BY_HASH, KEYS_CHANGES, KEYS_VERSION
from control_plane.model import ApiKey, KeyState, hash_secret
from control_plane.redis_client import RedisClient, open_pubsub
from ext_proc.errors import AuthUnavailableError, InvalidApiKeyError
from ext_proc.governance.contracts import Principal
from ext_proc.governance.jwt_auth import JwtVerifier
from ext_proc.governance.key_cache import KeyCache

__all__ = ["RedisAuthenticator", "extract_credential", "looks_like_jwt"]

_logger = logging.getLogger(__name__)

_BEARER = "bearer "
_MAX_CREDENTIAL_CHARS = 8192


def extract_credential(headers: Mapping[str, str]) -> str | None:
    """The credential of a request (lower-case header names): Bearer token, else api-key, else x-api-key."""
    authorization = headers.get("authorization", "")
    if authorization[: len(_BEARER)].lower() == _BEARER:
        token = authorization[len(_BEARER) :].strip()
        if token:
            return token
    for name in ("api-key", "x-api-key"):
        value = headers.get(name, "").strip()
        if value:
            return value
    return None


def looks_like_jwt(credential: str) -> bool:
    """A compact JWS: three non-empty dot-separated segments (API keys never contain dots)."""
    parts = credential.split(".")
    return len(parts) == 3 and all(parts)


def _now() -> datetime:
    return datetime.now(UTC)


class RedisAuthenticator:
    """Resolves API keys (and, when configured, JWTs) to a `Principal`."""

    def __init__(
        self,
        client: RedisClient,
        *,
        cache_size: int = 100_000,
        negative_ttl_s: float = 2.0,
        poll_interval_s: float = 0.5,
        lookup_timeout_s: float = 2.0,
        retry_s: float = 0.5,
        jwt: JwtVerifier | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._client = client
        self.cache = KeyCache(max_entries=cache_size, negative_ttl_s=negative_ttl_s)
        self._poll_interval_s = poll_interval_s
        self._lookup_timeout_s = lookup_timeout_s
        self._retry_s = retry_s
        self._jwt = jwt
        self._clock = clock

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        credential = extract_credential(headers)
        if credential is None or len(credential) > _MAX_CREDENTIAL_CHARS:
            raise InvalidApiKeyError()
        if self._jwt is not None and looks_like_jwt(credential):
            return await self._jwt.verify(credential)
        secret_hash = hash_secret(credential)
        entry = self.cache.get(secret_hash)
        if entry is not None:
            key = entry.key
        else:
            key = await self._fetch(secret_hash)
        if key is None or key.state(self._clock()) is not KeyState.ACTIVE:
            raise InvalidApiKeyError()
        return Principal(
            tenant=key.tenant,
            key_id=key.id,
            allowed_models=frozenset(key.allowed_models) if key.allowed_models is not None else None,
        )

    async def _fetch(self, secret_hash: str) -> ApiKey | None:
        generation = self.cache.generation
        try:
            async with asyncio.timeout(self._lookup_timeout_s):
                raw = await self._client.hget(KEYS_BY_HASH, secret_hash)
        except (RedisError, OSError, TimeoutError) as exc:
            _logger.warning("key lookup failed (%s); unknown keys get 503", type(exc).__name__)
            raise AuthUnavailableError() from None
        key: ApiKey | None = None
        if raw is not None:
            try:
                key = ApiKey.model_validate_json(raw)
            except ValidationError:
                _logger.error("stored key %s… does not validate; treated as unknown", secret_hash[:8])
            if key is not None and not hmac.compare_digest(key.secret_hash, secret_hash):
                key = None
        self.cache.put(secret_hash, key, generation=generation)
        return key

    async def follow_changes(self) -> None:
        """Keep the cache coherent with the registry, forever (run as a task; cancel to stop)."""
        subscribed_before = False
        last_version: bytes | str | None = None
        while True:
            try:
                async with await open_pubsub(self._client) as pubsub:
                    await pubsub.subscribe(KEYS_CHANGES)
                    if subscribed_before:
                        self.cache.clear()  # messages may have been lost while disconnected
                    subscribed_before = True
                    last_version = await self._poll_version(last_version)
                    next_poll = time.monotonic() + self._poll_interval_s
                    while True:
                        timeout = max(0.0, next_poll - time.monotonic())
                        message = await pubsub.get_message(timeout=timeout)
                        if message is not None and message.get("type") == "message":
                            data = message["data"]
                            self.cache.evict(data.decode() if isinstance(data, bytes) else str(data))
                        if time.monotonic() >= next_poll:
                            last_version = await self._poll_version(last_version)
                            next_poll = time.monotonic() + self._poll_interval_s
            except (RedisError, OSError) as exc:
                _logger.warning("key change feed: redis unavailable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(self._retry_s)

    async def _poll_version(self, last: bytes | str | None) -> bytes | str | None:
        version: bytes | str | None = await self._client.get(KEYS_VERSION)
        if version != last and (last is not None or len(self.cache)):
            self.cache.clear()
        return version

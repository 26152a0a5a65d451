"""Optional JWT authentication: RS256/ES256 tokens verified against a JWKS (file or URL).

The JWKS is loaded on first use and cached; a token whose `kid` is unknown triggers one reload (at
most every `min_refresh_s`, so a flood of forged kids cannot hammer the JWKS server). URL fetches use
httpx with a timeout; a JWKS that cannot be loaded makes the token invalid (401), never valid.
Principal: tenant = the `tenant_claim` claim, key id = `jwt:<sub>`. `exp` and `sub` are required;
`iss`/`aud` are checked when configured.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
from jwt.types import Options

from ext_proc.errors import InvalidApiKeyError
from ext_proc.governance.contracts import Principal

__all__ = ["JwksSource", "JwtVerifier"]

_logger = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = frozenset({"RS256", "ES256"})


class JwksSource:
    """Where the JWKS comes from: a local file (read each load) or an HTTPS URL (fetched each load)."""

    def __init__(
        self,
        *,
        path: Path | None = None,
        url: str | None = None,
        timeout_s: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if path is None and url is None:
            raise ValueError("a JWKS needs a file path or a URL")
        self._path = path
        self._url = url
        self._timeout_s = timeout_s
        self._transport = transport
        """httpx transport (tests pass `httpx.MockTransport`); None = the network."""

    async def load(self) -> Mapping[str, Any]:
        """The JWKS document as a dict (raises OSError / httpx.HTTPError / ValueError on failure)."""
        if self._path is not None:
            raw = await asyncio.to_thread(self._path.read_bytes)
        else:
            assert self._url is not None
            async with httpx.AsyncClient(timeout=self._timeout_s, transport=self._transport) as client:
                response = await client.get(self._url)
                response.raise_for_status()
                raw = response.content
        document = orjson.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("JWKS is not a JSON object")
        return document


class JwtVerifier:
    """Verifies bearer JWTs and maps them to a `Principal`."""

    def __init__(
        self,
        source: JwksSource,
        *,
        algorithms: Sequence[str] = ("RS256", "ES256"),
        issuer: str | None = None,
        audience: str | None = None,
        tenant_claim: str = "tenant",
        leeway_s: float = 30.0,
        min_refresh_s: float = 10.0,
    ) -> None:
        unsupported = set(algorithms) - ALLOWED_ALGORITHMS
        if unsupported or not algorithms:
            raise ValueError(f"JWT algorithms must be among {sorted(ALLOWED_ALGORITHMS)}")
        self._source = source
        self._algorithms = list(algorithms)
        self._issuer = issuer
        self._audience = audience
        self._tenant_claim = tenant_claim
        self._leeway_s = leeway_s
        self._min_refresh_s = min_refresh_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; raises `InvalidApiKeyError` (401) for anything else."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidApiKeyError() from None
        kid = header.get("kid")
        if header.get("alg") not in self._algorithms or not isinstance(kid, str):
            raise InvalidApiKeyError()
        key = await self._key(kid)
        if key is None:
            raise InvalidApiKeyError()
        options: Options = {"require": ["exp", "sub"], "verify_aud": self._audience is not None}
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway_s,
                options=options,
            )
        except jwt.PyJWTError:
            raise InvalidApiKeyError() from None
        tenant = claims.get(self._tenant_claim)
        subject = claims.get("sub")
        if not isinstance(tenant, str) or not tenant or not isinstance(subject, str) or not subject:
            raise InvalidApiKeyError()
        return Principal(tenant=tenant, key_id=f"jwt:{subject}")

    async def _key(self, kid: str) -> jwt.PyJWK | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is None and time.monotonic() - self._loaded_at >= self._min_refresh_s:
                await self._reload()
                key = self._keys.get(kid)
        return key

    async def _reload(self) -> None:
        self._loaded_at = time.monotonic()
        try:
            document = await self._source.load()
            keyset = jwt.PyJWKSet.from_dict(dict(document))
        except (OSError, httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            _logger.warning(
                "JWKS could not be loaded (%s); keeping %d keys", type(exc).__name__, len(self._keys)
            )
            return
        self._keys = {k.key_id: k for k in keyset.keys if k.key_id}

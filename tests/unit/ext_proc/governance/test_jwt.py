"""JWT auth with keys generated here: RS256 and ES256 via a JWKS file or URL; every bad token is a 401."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ext_proc.errors import InvalidApiKeyError
from ext_proc.governance.jwt_auth import JwksSource, JwtVerifier

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks() -> dict[str, Any]:
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key()))
    return {"keys": [{**rsa_jwk, "kid": "r1", "alg": "RS256"}, {**ec_jwk, "kid": "e1", "alg": "ES256"}]}


def token(*, key: Any = RSA_KEY, alg: str = "RS256", kid: str = "r1", **overrides: Any) -> str:
    claims = {"sub": "user-7", "tenant": "acme", "iss": "https://idp", "aud": "tollway",
              "exp": int(time.time()) + 300, **overrides}  # fmt: skip
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def verifier(tmp_path: Path) -> JwtVerifier:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks()))
    return JwtVerifier(JwksSource(path=path), issuer="https://idp", audience="tollway", min_refresh_s=0.0)


@pytest.mark.parametrize(("key", "alg", "kid"), [(RSA_KEY, "RS256", "r1"), (EC_KEY, "ES256", "e1")])
async def test_valid_tokens_map_to_a_principal(verifier: JwtVerifier, key: Any, alg: str, kid: str) -> None:
    principal = await verifier.verify(token(key=key, alg=alg, kid=kid))
    assert (principal.tenant, principal.key_id, principal.allowed_models) == ("acme", "jwt:user-7", None)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: token(exp=int(time.time()) - 120), id="expired"),
        pytest.param(lambda: token(exp=None), id="no-exp"),
        pytest.param(lambda: token(iss="https://evil"), id="issuer"),
        pytest.param(lambda: token(aud="someone-else"), id="audience"),
        pytest.param(lambda: token(tenant=None), id="no-tenant"),
        pytest.param(lambda: token(sub=None), id="no-sub"),
        pytest.param(lambda: token(kid="nope"), id="unknown-kid"),
        pytest.param(lambda: token(key=OTHER_RSA), id="wrong-key"),
        pytest.param(
            lambda: jwt.encode(
                {"sub": "x", "tenant": "a"}, "secret" * 6, algorithm="HS256", headers={"kid": "r1"}
            ),
            id="hs256",
        ),
        pytest.param(lambda: token()[:-4] + "AAAA", id="tampered"),
        pytest.param(lambda: "a.b.c", id="garbage"),
    ],
)
async def test_every_bad_token_is_a_401(verifier: JwtVerifier, bad: Any) -> None:
    with pytest.raises(InvalidApiKeyError):
        await verifier.verify(bad())


async def test_jwks_url_is_fetched_once_and_refetched_for_an_unknown_kid() -> None:
    calls: list[str] = []
    document = {"keys": jwks()["keys"][:1]}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json=document)

    source = JwksSource(url="https://idp/jwks", transport=httpx.MockTransport(handler))
    verifier = JwtVerifier(source, issuer="https://idp", audience="tollway", min_refresh_s=0.0)
    await verifier.verify(token())
    await verifier.verify(token())
    assert len(calls) == 1
    with pytest.raises(InvalidApiKeyError):
        await verifier.verify(token(key=EC_KEY, alg="ES256", kid="e1"))  # not published yet
    assert len(calls) == 2
    document["keys"] = jwks()["keys"]  # key rotation at the IdP
    assert (await verifier.verify(token(key=EC_KEY, alg="ES256", kid="e1"))).tenant == "acme"
    assert len(calls) == 3


def test_only_rs256_and_es256_are_accepted() -> None:
    with pytest.raises(ValueError, match="algorithms"):
        JwtVerifier(JwksSource(url="https://idp"), algorithms=("HS256",))


async def test_authenticator_routes_bearer_jwts_to_the_verifier(verifier: JwtVerifier) -> None:
    import redis.asyncio as aioredis

    from ext_proc.governance.auth import RedisAuthenticator

    unreachable = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    auth = RedisAuthenticator(unreachable, jwt=verifier)
    principal = await auth.authenticate({"authorization": f"Bearer {token()}"})
    assert principal.key_id == "jwt:user-7"
    with pytest.raises(InvalidApiKeyError):
        await auth.authenticate({"authorization": f"Bearer {token(exp=int(time.time()) - 120)}"})
    await unreachable.aclose()

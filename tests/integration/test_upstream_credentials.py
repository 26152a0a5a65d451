"""Upstream credentials end to end: sealed in the registry, opened only by xds, sent to Envoy over SDS,
added by Envoy to each upstream request; never forwarded from clients, never visible in the clear."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import redis
from pydantic import SecretStr

from control_plane.admin_client import AdminClient
from control_plane.launcher import Stack, StackInfo
from control_plane.model import Backend, Model
from tests.support.mock_fleet import MockFleet

pytestmark = pytest.mark.integration


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[MockFleet]:
    with MockFleet(tmp_path) as fleet:
        fleet.start("provider")
        yield fleet


def _received(fleet: MockFleet, request_id: str) -> dict[str, str]:
    [arrival] = [a for a in fleet.stats("provider")["arrivals"] if a["request_id"] == request_id]
    credentials: dict[str, str] = arrival["credentials"]
    return credentials


def _call(info: StackInfo, model: str, headers: dict[str, str]) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    return httpx.post(f"{info.listener_urls[0]}/chat/completions", json=body, headers=headers, timeout=10)


def test_provider_key_is_added_by_envoy_and_never_leaks(
    stack: Stack, info: StackInfo, admin: AdminClient, auth: dict[str, str], fleet: MockFleet
) -> None:
    suffix = uuid.uuid4().hex[:8]
    secret = f"sk-live-{uuid.uuid4().hex}"
    credential = f"provider-{suffix}"
    written = admin.put_credential(credential, SecretStr(secret))
    assert written["credential"]["hint"] == "…" + secret[-4:]
    model = Model(
        name=f"cred-{suffix}",
        backends=(Backend(name="provider", base_url=fleet.url("provider")),),
        upstream_credentials=(credential,),
        upstream_headers={"openai-organization": "org-42"},
    )
    admin.put_model(model)
    client_secret = auth["Authorization"].removeprefix("Bearer ")
    # The client also sends its key in the other two places the gateway reads keys from.
    headers = {**auth, "x-api-key": client_secret, "api-key": client_secret}
    deadline = time.monotonic() + 15
    while (response := _call(info, model.name, headers)).status_code != 200:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.1)

    assert _received(fleet, response.headers["x-request-id"]) == {"authorization": f"Bearer {secret}"}

    # Rotation: the new value reaches Envoy over SDS without touching the model.
    rotated = f"sk-live-{uuid.uuid4().hex}"
    admin.put_credential(credential, SecretStr(rotated))
    deadline = time.monotonic() + 10
    while True:
        response = _call(info, model.name, headers)
        assert response.status_code == 200
        if _received(fleet, response.headers["x-request-id"])["authorization"] == f"Bearer {rotated}":
            break
        assert time.monotonic() < deadline, "the rotated credential never reached the upstream"
        time.sleep(0.1)

    # The official SDK sees an ordinary answer; the provider key appears nowhere it could read.
    sdk = openai.OpenAI(base_url=info.listener_url, api_key=client_secret, max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(
        model=model.name, messages=[{"role": "user", "content": "hi"}], max_tokens=4
    )
    assert raw.http_response.status_code == 200
    exposed = raw.http_response.text + str(dict(raw.http_response.headers))
    assert secret not in exposed
    assert rotated not in exposed

    for admin_url in info.envoy_admin_urls:
        dump = httpx.get(f"{admin_url}/config_dump", params={"include_eds": "true"}, timeout=10).text
        assert rotated not in dump
        assert secret not in dump
        assert "[redacted]" in dump  # Envoy holds the SDS secret and masks it
    listing = admin.credentials()
    assert rotated not in str(listing)
    assert "sealed_value" not in str(listing)
    store = redis.Redis.from_url(info.redis_url)
    try:
        for key in store.scan_iter(count=1000):
            kind = store.type(key)
            value = store.get(key) if kind == b"string" else b""
            assert rotated.encode() not in (value or b""), key
            assert secret.encode() not in (value or b""), key
    finally:
        store.close()
    logs = "".join(
        path.read_text(errors="replace") for path in (stack.settings.state_dir / "logs").glob("*.log")
    )
    assert rotated not in logs
    assert secret not in logs

    # The model goes: its secret leaves every Envoy without a rejected (NACKed) SDS update.
    admin.remove_model(model.name)
    deadline = time.monotonic() + 10
    while True:
        nodes = [n for n in admin.status()["envoy_nodes"] if n["connected"]]
        sds = [node["resources"].get("sds") for node in nodes]
        settled = all(r is not None and r["acked_version"] == r["sent_version"] for r in sds)
        assert all(r is None or r["last_nack"] is None for r in sds), sds
        if settled:
            break
        assert time.monotonic() < deadline, sds
        time.sleep(0.1)


def test_a_model_without_credentials_never_forwards_the_clients_key(
    info: StackInfo, admin: AdminClient, auth: dict[str, str], fleet: MockFleet
) -> None:
    model = Model(
        name=f"nocred-{uuid.uuid4().hex[:8]}",
        backends=(Backend(name="provider", base_url=fleet.url("provider")),),
    )
    admin.put_model(model)
    client_secret = auth["Authorization"].removeprefix("Bearer ")
    headers = {**auth, "x-api-key": client_secret, "api-key": client_secret}
    deadline = time.monotonic() + 15
    while (response := _call(info, model.name, headers)).status_code != 200:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.1)
    assert _received(fleet, response.headers["x-request-id"]) == {}

"""TLS from Envoy to https backends, end to end: mocks serving HTTPS with a throwaway CA's certificates.

A backend verifies against its `ca_file`; `localhost` and IP literals are checked against the certificate's
SANs (xds/translate/cluster.py). Each test registers its own model on its own mock, sends traffic through
the first Envoy and reads that Envoy's per-cluster `ssl.*` counters to tell what happened on the wire.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from control_plane.admin_client import AdminClient
from control_plane.model import Backend, Model
from tests.support.chat import chat_body
from tests.support.envoy_probe import EnvoyProbe
from tests.support.mock_fleet import MockFleet
from tests.support.tls import TestPki, make_pki

pytestmark = pytest.mark.integration

MOCK_BACKEND = "x-mock-backend"
_ROUTABLE_TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp("upstream-pki"))


def _put_model(admin: AdminClient, fleet: MockFleet, mock: str, host: str, ca_file: Path) -> str:
    name = f"tls-{uuid.uuid4().hex[:8]}"
    base_url = f"https://{host}:{fleet.port(mock)}/v1"
    admin.put_model(Model(name=name, backends=(Backend(name=mock, base_url=base_url, ca_file=str(ca_file)),)))
    return name


def _register_routable(
    admin: AdminClient, gateway: httpx.Client, fleet: MockFleet, mock: str, host: str, ca_file: Path
) -> str:
    """A new model on `mock` reached as `https://<host>:<port>/v1`, once Envoy serves it with a 200."""
    name = _put_model(admin, fleet, mock, host, ca_file)
    deadline = time.monotonic() + _ROUTABLE_TIMEOUT_S
    while time.monotonic() < deadline:
        if gateway.post("/chat/completions", json=chat_body(name)).status_code == 200:
            fleet.reset(mock)
            return name
        time.sleep(0.05)
    raise AssertionError(f"model {name} never became routable:\n{fleet.log_tail(mock)}")


def _register_refused(
    admin: AdminClient,
    gateway: httpx.Client,
    fleet: MockFleet,
    probe: EnvoyProbe,
    mock: str,
    host: str,
    ca_file: Path,
) -> str:
    """A new model whose TLS handshake Envoy refuses, once Envoy has tried its cluster's endpoint.

    A 503 alone does not show that: before the cluster arrives the route's 503 (no cluster) looks alike.
    """
    name = _put_model(admin, fleet, mock, host, ca_file)
    cluster = f"model.{name}"
    deadline = time.monotonic() + _ROUTABLE_TIMEOUT_S
    while time.monotonic() < deadline:
        gateway.post("/chat/completions", json=chat_body(name))
        if probe.counter(cluster, "upstream_cx_total") > 0:
            fleet.reset(mock)
            return name
        time.sleep(0.05)
    raise AssertionError(f"Envoy never connected for model {name}: {probe.counters(cluster)}")


def _assert_upstream_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "upstream_unavailable")


def _stream(gateway: httpx.Client, model: str) -> tuple[int, list[str]]:
    """Status and the `data:` payloads of a streamed chat completion."""
    with gateway.stream("POST", "/chat/completions", json=chat_body(model, stream=True)) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
        return response.status_code, [line.removeprefix("data: ") for line in lines]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_https_backend_verified_against_its_ca_file_serveschat_body(
    admin: AdminClient,
    gateway: httpx.Client,
    fleet: MockFleet,
    probe: EnvoyProbe,
    pki: TestPki,
    host: str,
) -> None:
    mock = f"tls-ok-{host.replace('.', '-')}"
    fleet.start(mock, tls=(pki.server_cert, pki.server_key))
    model = _register_routable(admin, gateway, fleet, mock, host, pki.ca_cert)
    cluster = f"model.{model}"
    handshakes_before = probe.counter(cluster, "ssl.handshake")

    plain = gateway.post("/chat/completions", json=chat_body(model))
    status, events = _stream(gateway, model)

    assert plain.status_code == 200, plain.text
    assert plain.headers[MOCK_BACKEND] == mock
    assert plain.json()["choices"][0]["message"]["content"].startswith(f"[{mock}]")
    assert status == 200
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.startswith(f"[{mock}]")
    arrivals = fleet.stats(mock)["arrivals"]
    assert [(a["path"], a["status"]) for a in arrivals] == [("/v1/chat/completions", 200)] * 2
    # Over TLS and nothing refused: handshakes only for new connections (both requests may reuse one).
    assert probe.counter(cluster, "ssl.handshake") >= max(handshakes_before, 1)
    assert probe.counter(cluster, "ssl.fail_verify_error") == 0
    assert probe.counter(cluster, "ssl.versions.TLSv1.3") >= 1  # not capped at TLS 1.2
    assert probe.counter(cluster, "ssl.fail_verify_san") == 0


@pytest.mark.parametrize(
    ("host", "ca", "cert", "refusal"),
    [
        pytest.param("localhost", "other", "server", "ssl.fail_verify_error", id="localhost-unrelated-ca"),
        pytest.param("127.0.0.1", "other", "server", "ssl.fail_verify_error", id="ip-unrelated-ca"),
        pytest.param("localhost", "ca", "stranger", "ssl.fail_verify_san", id="localhost-wrong-name"),
        pytest.param("127.0.0.1", "ca", "stranger", "ssl.fail_verify_san", id="ip-wrong-name"),
    ],
)
def test_untrusted_upstream_certificate_gives_503_and_no_request_reaches_it(
    admin: AdminClient,
    gateway: httpx.Client,
    fleet: MockFleet,
    probe: EnvoyProbe,
    pki: TestPki,
    host: str,
    ca: str,
    cert: str,
    refusal: str,
) -> None:
    ca_file = pki.ca_cert if ca == "ca" else pki.other_ca_cert
    tls = (pki.server_cert, pki.server_key) if cert == "server" else (pki.stranger_cert, pki.stranger_key)
    mock = f"tls-bad-{uuid.uuid4().hex[:6]}"
    fleet.start(mock, tls=tls)
    model = _register_refused(admin, gateway, fleet, probe, mock, host, ca_file)
    cluster = f"model.{model}"
    refused_before = probe.counter(cluster, refusal)

    plain = gateway.post("/chat/completions", json=chat_body(model))
    streamed = gateway.post("/chat/completions", json=chat_body(model, stream=True))

    _assert_upstream_unavailable(plain)
    _assert_upstream_unavailable(streamed)
    assert fleet.stats(mock)["arrivals"] == []
    assert probe.counter(cluster, refusal) >= refused_before + 2  # at least one refusal per request
    assert probe.counter(cluster, "upstream_rq_200") == 0

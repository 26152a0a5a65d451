"""The mock upstream over HTTPS: settings, flags, and a real process verified against a throwaway CA."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from control_plane.demo.mock_upstream import BACKEND_HEADER, MockUpstreamSettings, build_server
from control_plane.demo.mock_upstream.__main__ import parse_settings
from tests.support.mock_fleet import MockFleet
from tests.support.tls import TestPki, make_pki

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[MockFleet]:
    with MockFleet(tmp_path) as fleet:
        yield fleet


def _trusting(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def test_tls_files_come_from_env_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLWAY_MOCK_SSL_CERTFILE", "/env/cert.pem")
    monkeypatch.setenv("TOLLWAY_MOCK_SSL_KEYFILE", "/env/key.pem")
    assert (parse_settings([]).ssl_certfile, parse_settings([]).ssl_keyfile) == (
        "/env/cert.pem",
        "/env/key.pem",
    )

    settings = parse_settings(["--ssl-certfile", "/flag/cert.pem", "--ssl-keyfile", "/flag/key.pem"])

    assert (settings.ssl_certfile, settings.ssl_keyfile) == ("/flag/cert.pem", "/flag/key.pem")


def test_plain_http_by_default_and_tls_files_only_in_pairs() -> None:
    plain = MockUpstreamSettings()
    assert (plain.ssl_certfile, plain.ssl_keyfile) == (None, None)
    with pytest.raises(ValidationError, match="must be given together"):
        MockUpstreamSettings(ssl_certfile="/cert.pem")
    with pytest.raises(ValidationError, match="must be given together"):
        MockUpstreamSettings(ssl_keyfile="/key.pem")


def test_build_server_hands_the_files_to_uvicorn(pki: TestPki) -> None:
    settings = MockUpstreamSettings(ssl_certfile=str(pki.server_cert), ssl_keyfile=str(pki.server_key))

    config = build_server(settings).config

    assert (config.ssl_certfile, config.ssl_keyfile) == (str(pki.server_cert), str(pki.server_key))
    assert build_server(MockUpstreamSettings()).config.ssl_certfile is None


def test_fleet_serves_https_that_verifies_against_the_test_ca_only(fleet: MockFleet, pki: TestPki) -> None:
    fleet.start("secure", tls=(pki.server_cert, pki.server_key))
    port = fleet.port("secure")
    assert fleet.url("secure") == f"https://127.0.0.1:{port}/v1"

    for host in ("127.0.0.1", "localhost"):  # both SANs of the server certificate
        reply = httpx.post(
            f"https://{host}:{port}/v1/chat/completions",
            json=BODY,
            headers={"x-request-id": host},
            verify=_trusting(pki.ca_cert),
            timeout=5,
        )
        assert (reply.status_code, reply.headers[BACKEND_HEADER]) == (200, "secure")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.post(
            f"{fleet.url('secure')}/chat/completions",
            json=BODY,
            headers={"x-request-id": "refused"},
            verify=_trusting(pki.other_ca_cert),
            timeout=5,
        )
    with pytest.raises(httpx.RemoteProtocolError):  # plain HTTP to a TLS port: no HTTP answer
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)

    arrivals = fleet.stats("secure")["arrivals"]  # the fleet's own calls go over HTTPS too
    assert [(a["request_id"], a["status"]) for a in arrivals] == [("127.0.0.1", 200), ("localhost", 200)]


def test_fleet_restarts_a_tls_mock_on_the_same_port_still_over_https(fleet: MockFleet, pki: TestPki) -> None:
    fleet.start("secure", tls=(pki.server_cert, pki.server_key))
    port = fleet.port("secure")

    fleet.stop("secure")
    fleet.start("secure")

    assert fleet.url("secure") == f"https://127.0.0.1:{port}/v1"
    reply = httpx.get(f"{fleet.url('secure')}/models", verify=_trusting(pki.ca_cert), timeout=5)
    assert reply.status_code == 200


def test_fleet_pins_a_certificate_that_does_not_name_127_0_0_1(fleet: MockFleet, pki: TestPki) -> None:
    fleet.start("stranger", tls=(pki.stranger_cert, pki.stranger_key))

    assert fleet.stats("stranger")["arrivals"] == []  # ready and controllable over HTTPS
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # a real client refuses it
        httpx.get(f"{fleet.url('stranger')}/models", verify=_trusting(pki.ca_cert), timeout=5)

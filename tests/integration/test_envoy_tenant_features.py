"""The real Envoy 1.40 on translate()'s listener, routes and clusters: tenant rate limit and backend header.

No registry, no xds server, no real ext_proc: Envoy runs a static bootstrap made of the translated
resources (routes inlined, EDS clusters made STATIC with their translated load assignment), a tiny
stub ext_proc (grpcio, betterproto2 messages) that plays the real one's part in these features, and two
mock upstreams. The stub:
- request body: sets `x-tollway-model` (from the JSON body) and `x-tollway-tenant` (from the test's
  `x-test-tenant` header, standing in for API-key auth) with `clear_route_cache`, as ext_proc does;
- response headers: records what it saw, removes `x-tollway-backend` and echoes it to the client as
  `x-stub-saw-backend`, so the test can tell that ext_proc's response-headers phase sees the header.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from envoy_data_plane.envoy.config.core.v3 import HeaderValue, HeaderValueOption
from envoy_data_plane.envoy.service.ext_proc.v3 import (
    BodyResponse,
    CommonResponse,
    HeaderMutation,
    HeadersResponse,
    HttpHeaders,
    ProcessingRequest,
    ProcessingResponse,
)

from control_plane.demo.mock_upstream import BACKEND_HEADER as MOCK_BACKEND_HEADER
from control_plane.demo.mock_upstream import MockUpstreamSettings, build_server
from control_plane.model import (
    BACKEND_HEADER,
    MODEL_HEADER,
    TENANT_HEADER,
    Backend,
    Limits,
    Model,
    Plan,
    RegistrySpec,
    Snapshot,
    Tenant,
)
from xds.translate import TranslateOptions, translate

_VENV_ENVOY = Path(sys.executable).parent / "envoy"
ENVOY = str(_VENV_ENVOY) if _VENV_ENVOY.exists() else shutil.which("envoy")

pytestmark = pytest.mark.skipif(ENVOY is None, reason="no envoy binary")

SAW_BACKEND = "x-stub-saw-backend"
TEST_TENANT = "x-test-tenant"
LIMITED_RPM = 3  # a burst of 3, then one request per second


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- stub ext_proc -------------------------------------------------------------------------------------


@dataclass
class StubExtProc:
    """What the stub saw: one (status, x-tollway-backend or None) per response-headers message."""

    responses: list[tuple[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def process(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        tenant = ""
        for raw in requests:
            request = ProcessingRequest.parse(raw)
            if request.request_headers is not None:
                tenant = _header(request.request_headers, TEST_TENANT) or ""
                yield bytes(ProcessingResponse(request_headers=HeadersResponse(response=CommonResponse())))
            elif request.request_body is not None:
                model = json.loads(request.request_body.body)["model"]
                sets = [_set(MODEL_HEADER, model), *([_set(TENANT_HEADER, tenant)] if tenant else [])]
                common = CommonResponse(
                    header_mutation=HeaderMutation(set_headers=sets), clear_route_cache=True
                )
                yield bytes(ProcessingResponse(request_body=BodyResponse(response=common)))
            elif request.response_headers is not None:
                backend = _header(request.response_headers, BACKEND_HEADER)
                with self.lock:
                    self.responses.append((_header(request.response_headers, ":status") or "", backend))
                mutation = HeaderMutation(
                    remove_headers=[BACKEND_HEADER], set_headers=[_set(SAW_BACKEND, backend or "")]
                )
                common = CommonResponse(header_mutation=mutation)
                yield bytes(ProcessingResponse(response_headers=HeadersResponse(response=common)))
            else:  # not configured for anything else
                yield bytes(ProcessingResponse())


def _header(headers: HttpHeaders, name: str) -> str | None:
    assert headers.headers is not None
    for header in headers.headers.headers:
        if header.key == name:
            return header.raw_value.decode() if header.raw_value else header.value
    return None


def _set(key: str, value: str) -> HeaderValueOption:
    return HeaderValueOption(header=HeaderValue(key=key, raw_value=value.encode()))


@pytest.fixture(scope="module")
def stub() -> Iterator[tuple[StubExtProc, int]]:
    processor = StubExtProc()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    handler = grpc.stream_stream_rpc_method_handler(processor.process)  # bytes in, bytes out
    service = grpc.method_handlers_generic_handler(
        "envoy.service.ext_proc.v3.ExternalProcessor", {"Process": handler}
    )
    server.add_generic_rpc_handlers((service,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield processor, port
    server.stop(grace=None)


# --- mock upstreams -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mocks() -> Iterator[dict[str, int]]:
    """Two mock upstreams, `mock-a` and `mock-b` (their own names), by port."""
    started: dict[str, int] = {}
    servers: list[tuple[Any, threading.Thread, socket.socket]] = []
    try:
        for name in ("mock-a", "mock-b"):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            server = build_server(MockUpstreamSettings(name=name))
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
            thread.start()
            servers.append((server, thread, sock))
            deadline = time.monotonic() + 5
            while not server.started:
                assert time.monotonic() < deadline, f"{name} did not start"
                time.sleep(0.01)
            started[name] = sock.getsockname()[1]
        yield started
    finally:
        for server, thread, sock in servers:
            server.should_exit = True
            thread.join(timeout=5)
            sock.close()


# --- Envoy ---------------------------------------------------------------------------------------------


def registry(mock_ports: dict[str, int]) -> Snapshot:
    """Registry backend names (gpu-a/gpu-b) differ from the mocks' own names (mock-a/mock-b) on purpose."""
    backends = (
        Backend(name="gpu-a", base_url=f"http://127.0.0.1:{mock_ports['mock-a']}/v1"),
        Backend(name="gpu-b", base_url=f"http://127.0.0.1:{mock_ports['mock-b']}/v1"),
    )
    spec = RegistrySpec(
        models=(Model(name="echo", backends=backends), Model(name="echo-2", backends=backends)),
        plans=(Plan(name="metered", limits=Limits(requests_per_minute=LIMITED_RPM)), Plan(name="open")),
        tenants=(Tenant(id="acme", plan="metered"), Tenant(id="hobby", plan="open")),
    )
    return Snapshot(version=1, spec=spec)


def _static_cluster(name: str, port: int, *, http2: bool) -> dict[str, Any]:
    endpoint = {"endpoint": {"address": {"socketAddress": {"address": "127.0.0.1", "portValue": port}}}}
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connectTimeout": "1s",
        "loadAssignment": {"clusterName": name, "endpoints": [{"lbEndpoints": [endpoint]}]},
    }
    if http2:
        cluster["typedExtensionProtocolOptions"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicitHttpConfig": {"http2ProtocolOptions": {}},
            }
        }
    return cluster


def static_bootstrap(snapshot: Snapshot, listener_port: int, ext_proc_port: int) -> dict[str, Any]:
    """translate()'s resources made static: routes inlined, EDS clusters carry their load assignment."""
    options = TranslateOptions(listener_host="127.0.0.1", listener_port=listener_port)
    translated = translate(snapshot, options).to_dict()
    listener = translated["lds"]["tollway_http"]
    manager = listener["filterChains"][0]["filters"][0]["typedConfig"]
    del manager["rds"]
    manager["routeConfig"] = translated["rds"]["tollway"]
    clusters = []
    for name, cluster in translated["cds"].items():
        if cluster.get("type") == "EDS":
            del cluster["edsClusterConfig"]
            cluster["type"] = "STATIC"
            cluster["loadAssignment"] = translated["eds"][name]
        clusters.append(cluster)
    return {
        "node": {"id": "tenant-features", "cluster": "tollway"},
        "admin": {"address": {"socketAddress": {"address": "127.0.0.1", "portValue": 0}}},
        "staticResources": {
            "clusters": [_static_cluster(options.ext_proc_cluster, ext_proc_port, http2=True), *clusters],
            "listeners": [listener],
        },
    }


@pytest.fixture(scope="module")
def envoy(
    stub: tuple[StubExtProc, int], mocks: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Envoy serving the translated config; yields the listener's base URL."""
    work = tmp_path_factory.mktemp("envoy")
    port = _free_port()
    config = work / "bootstrap.json"
    config.write_text(json.dumps(static_bootstrap(registry(mocks), port, stub[1])))
    log = work / "envoy.log"
    assert ENVOY is not None
    argv = [ENVOY, "-c", str(config), "--use-dynamic-base-id", "--log-level", "warning", "--concurrency", "1"]
    with log.open("w") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(f"{url}/ready", timeout=0.5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _chat(http: httpx.Client, tenant: str | None, model: str = "echo") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    headers = {TEST_TENANT: tenant} if tenant else {}
    return http.post("/v1/chat/completions", json=body, headers=headers)


# --- tests ---------------------------------------------------------------------------------------------


def test_ext_proc_sees_the_serving_backend_name_and_the_client_does_not(
    envoy: str, stub: tuple[StubExtProc, int]
) -> None:
    names = {"gpu-a": "mock-a", "gpu-b": "mock-b"}
    seen: set[str] = set()
    with httpx.Client(base_url=envoy, timeout=5) as http:
        for _ in range(16):
            reply = _chat(http, "hobby")
            assert reply.status_code == 200, reply.text
            assert BACKEND_HEADER not in reply.headers  # ext_proc removed it
            backend = reply.headers[SAW_BACKEND]
            # The name comes from the metadata of the host that served the request.
            assert names[backend] == reply.headers[MOCK_BACKEND_HEADER]
            seen.add(backend)
    assert seen == {"gpu-a", "gpu-b"}  # least-request (random among idle hosts) used both
    with stub[0].lock:
        assert ("200", "gpu-a") in stub[0].responses


def test_tenant_with_rpm_is_limited_after_its_burst_with_openai_json(envoy: str) -> None:
    with httpx.Client(base_url=envoy, timeout=5) as http:
        started = time.monotonic()
        # Alternating models: one bucket per tenant across every model route (virtual-host config).
        replies = [_chat(http, "acme", ("echo", "echo-2")[i % 2]) for i in range(LIMITED_RPM + 3)]
        elapsed = time.monotonic() - started
    statuses = [r.status_code for r in replies]
    ok = statuses.count(200)
    # A burst of LIMITED_RPM, plus at most one refill per second that passed during the burst.
    assert LIMITED_RPM <= ok <= LIMITED_RPM + 1 + int(elapsed), statuses
    assert statuses[:LIMITED_RPM] == [200] * LIMITED_RPM
    limited = [r for r in replies if r.status_code == 429]
    assert limited, statuses
    for reply in limited:
        assert reply.headers["retry-after"] == "1"
        assert reply.headers["content-type"] == "application/json"
        error = reply.json()["error"]
        assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limited")
        assert SAW_BACKEND in reply.headers  # ext_proc saw the local reply's headers too
        assert reply.headers[SAW_BACKEND] == ""  # no upstream host: no backend name
    time.sleep(1.1)
    with httpx.Client(base_url=envoy, timeout=5) as http:
        assert _chat(http, "acme").status_code == 200  # refilled


def test_tenants_without_rpm_and_requests_without_tenant_are_not_limited(envoy: str) -> None:
    with httpx.Client(base_url=envoy, timeout=5) as http:
        statuses = [_chat(http, tenant).status_code for tenant in ["hobby", None] * 10]
    assert statuses == [200] * 20

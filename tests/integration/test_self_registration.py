"""Service discovery: a backend registers itself with a TTL and heart-beats; it joins its model's static
backend in every Envoy's EDS, takes traffic, and leaves within ttl + 3 s of its last heartbeat with zero
errors for the requests in flight meanwhile."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from control_plane.admin_client import AdminClient, AdminClientError
from control_plane.launcher import StackInfo
from control_plane.model import Backend, Model, RegistrationPolicy

pytestmark = pytest.mark.integration

MODEL = "selfreg/llama"
CLUSTER = f"model.{MODEL}"
TTL_S = 3.0
BEAT_S = 1.0


def _hosts(envoy_admin_url: str) -> set[str]:
    """`ip:port` of every host Envoy has in the model's cluster (from its admin /clusters)."""
    text = httpx.get(f"{envoy_admin_url}/clusters", timeout=5.0).text
    fields = [line.split("::") for line in text.splitlines() if line.startswith(f"{CLUSTER}::")]
    return {f[1] for f in fields if len(f) == 4 and f[2] == "health_flags"}


def _hostport(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"{parts.hostname}:{parts.port}"


def _wait(predicate: Callable[[], bool], limit_s: float) -> float:
    """Seconds until `predicate` holds (polled every 50 ms); inf after `limit_s`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > limit_s:
            return float("inf")
        time.sleep(0.05)
    return time.monotonic() - start


class _Traffic:
    """Threads calling the model through every Envoy, recording (status, serving backend)."""

    def __init__(self, listener_urls: tuple[str, ...], auth: dict[str, str]) -> None:
        self.results: list[tuple[int, str]] = []
        self.failures: list[str] = []
        self._urls = listener_urls
        self._auth = auth
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(4)]
        self._lock = threading.Lock()

    def __enter__(self) -> _Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def snapshot(self) -> list[tuple[int, str]]:
        with self._lock:
            return list(self.results)

    def _run(self, index: int) -> None:
        url = f"{self._urls[index % len(self._urls)]}/chat/completions"
        body = {"model": MODEL, "messages": [{"role": "user", "content": "who serves?"}]}
        with httpx.Client(timeout=10.0, headers=self._auth) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(url, json=body)
                    with self._lock:
                        self.results.append(
                            (response.status_code, response.headers.get("x-mock-backend", ""))
                        )
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failures.append(type(exc).__name__)
                self._stop.wait(0.02)


class _Heartbeat:
    """Registers `backend` every BEAT_S seconds (like `tollway backends register --every 1s`)."""

    def __init__(self, client: AdminClient, backend: Backend) -> None:
        self.client = client
        self.backend = backend
        self.last_beat = 0.0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.client.register_backend(MODEL, self.backend, TTL_S)
        self.last_beat = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(BEAT_S):
            try:
                self.client.register_backend(MODEL, self.backend, TTL_S)
                self.last_beat = time.monotonic()
            except AdminClientError as exc:
                self.errors.append(str(exc))


def test_registered_backend_joins_serves_and_leaves_after_its_ttl(
    info: StackInfo, auth: dict[str, str], admin: AdminClient, mock_upstream: Callable[[str], str]
) -> None:
    static_url = mock_upstream("selfreg-static")
    joined_url = mock_upstream("selfreg-joined")
    admin.put_model(
        Model(
            name=MODEL,
            backends=(Backend(name="static", base_url=static_url),),
            registration=RegistrationPolicy(allowed_networks=("10.0.0.0/8", "127.0.0.0/8")),
        )
    )
    token = (info.state_dir / "registration-token").read_text().strip()
    registrar = AdminClient(info.admin_url, token)
    beat = _Heartbeat(registrar, Backend(name="joined", base_url=joined_url))
    try:
        with pytest.raises(AdminClientError, match="401"):
            registrar.models()  # the registration token opens nothing else
        beat.start()
        both = {_hostport(static_url), _hostport(joined_url)}
        joined_s = max(_wait(lambda u=url: _hosts(u) == both, 5.0) for url in info.envoy_admin_urls)
        assert joined_s < 2.0, (
            f"registered backend took {joined_s:.2f}s to reach every Envoy: "
            f"{[_hosts(u) for u in info.envoy_admin_urls]} != {both}"
        )
        listed = registrar.registrations(MODEL)["registrations"]
        assert [(r["backend"]["name"], r["ttl_s"]) for r in listed] == [("joined", TTL_S)]

        with _Traffic(info.listener_urls, auth) as traffic:
            time.sleep(2.0)  # both serve, heartbeats keep the registration alive
            before = Counter(backend for _, backend in traffic.snapshot())
            beat.stop()
            stopped_at = beat.last_beat
            gone_s = max(
                _wait(lambda u=url: _hosts(u) == {_hostport(static_url)}, TTL_S + 5.0)
                for url in info.envoy_admin_urls
            )
            gone_after_beat_s = time.monotonic() - stopped_at
            time.sleep(1.0)  # traffic after it left
            cut = len(traffic.snapshot())
            time.sleep(1.0)
        results = traffic.results
        after = Counter(backend for _, backend in results[cut:])
        assert beat.errors == []
        assert before["selfreg-static"] > 10, before
        assert before["selfreg-joined"] > 10, before
        assert gone_s < float("inf"), "the expired backend never left Envoy's cluster"
        assert gone_after_beat_s <= TTL_S + 3.0, f"left {gone_after_beat_s:.2f}s after the last heartbeat"
        assert after["selfreg-joined"] == 0, after
        assert after["selfreg-static"] > 10, after
        statuses = Counter(status for status, _ in results)
        assert traffic.failures == [], traffic.failures[:5]
        assert set(statuses) == {200}, statuses
        assert registrar.registrations(MODEL)["registrations"] == []
        print(  # the measured numbers, shown with -s
            f"joined every Envoy in {joined_s:.2f}s; left every Envoy {gone_after_beat_s:.2f}s after the "
            f"last heartbeat (ttl {TTL_S}s); {len(results)} requests, statuses {dict(statuses)}, "
            f"served before: {dict(before)}"
        )
    finally:
        beat.stop()
        registrar.close()
        admin.remove_model(MODEL)

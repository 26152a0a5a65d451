"""Benchmark: added latency (c=1) and max RPS for direct → plain Envoy → Tollway, on one compiled mock.

The mock upstream is an Envoy `direct_response` answering a fixed chat completion, so no Python process
sits on the upstream side; the same mock serves every arm. Run with `make bench` (installs wrk via
apt-get if missing). Prints a table and ratios; writes bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cache_arms  # bench/ is sys.path[0] when run as a script
import httpx

from control_plane.admin_client import AdminClient
from control_plane.launcher import Stack, StackSettings
from control_plane.launcher.envoy import find_envoy
from control_plane.launcher.process import ManagedProcess
from control_plane.launcher.readiness import free_port, http_ok, wait_until
from control_plane.model import Backend, Model, Plan, Tenant

REPLY = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
})  # fmt: skip
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say ok."}]}


def _listener(port: int, route: dict[str, object]) -> dict[str, object]:
    return {
        "name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                     ".HttpConnectionManager",
            "stat_prefix": "bench",
            "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}]},
            "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
        }}]}],
    }  # fmt: skip


def _envoy_config(
    listener_port: int, admin_port: int, route: dict[str, object], clusters: list[object]
) -> str:
    return json.dumps({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {"listeners": [_listener(listener_port, route)], "clusters": clusters},
    })  # fmt: skip


def _start_envoy(name: str, config: str, workdir: Path, admin_port: int) -> ManagedProcess:
    path = workdir / f"{name}.json"
    path.write_text(config)
    argv = [find_envoy(None), "-c", str(path), "--concurrency", "1", "--disable-hot-restart", "-l", "warn"]
    process = ManagedProcess(name, argv, log_path=workdir / f"{name}.log")
    process.start()
    if not wait_until(lambda: http_ok(f"http://127.0.0.1:{admin_port}/ready"), timeout_s=20):
        raise RuntimeError(f"{name} did not start:\n{process.log_tail()}")
    return process


def _latency(url: str, requests: int, headers: dict[str, str]) -> dict[str, float]:
    samples = []
    with httpx.Client(timeout=10.0, headers=headers) as client:
        for _ in range(50):
            client.post(url, json=BODY).raise_for_status()
        for _ in range(requests):
            start = time.perf_counter()
            client.post(url, json=BODY).raise_for_status()
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p99_ms": samples[int(len(samples) * 0.99) - 1]}


def _max_rps(
    url: str, seconds: int, connections: int, workdir: Path, headers: dict[str, str]
) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = workdir / "post.lua"
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(BODY))}\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        + "".join(
            f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}\n" for name, value in headers.items()
        )
    )
    out = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="sequential requests per arm (latency)")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per arm (max RPS)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the response-cache arms (bench/cache_arms.py)")  # fmt: skip
    parser.add_argument("--cache-clients", type=int, default=8, help="concurrent clients of the loop arm")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tollway-bench-"))
    processes: list[ManagedProcess] = []
    mock_port, mock_admin, plain_port, plain_admin = (free_port() for _ in range(4))
    mock_route = {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": REPLY}},
                  "response_headers_to_add": [{"header": {"key": "content-type", "value": "application/json"}}]}  # fmt: skip
    plain_cluster = {
        "name": "mock", "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": "mock", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
            "socket_address": {"address": "127.0.0.1", "port_value": mock_port}}}}]}]},
    }  # fmt: skip
    plain_route = {"match": {"prefix": "/"}, "route": {"cluster": "mock", "timeout": "0s"}}
    stack = Stack(StackSettings(state_dir=workdir / "state", listener_port=0, admin_port=0, demo=False))
    try:
        processes.append(
            _start_envoy("mock", _envoy_config(mock_port, mock_admin, mock_route, []), workdir, mock_admin)
        )
        processes.append(_start_envoy(
            "plain", _envoy_config(plain_port, plain_admin, plain_route, [plain_cluster]), workdir, plain_admin))  # fmt: skip
        info = stack.start()
        model = Model(
            name="bench", backends=(Backend(name="mock", base_url=f"http://127.0.0.1:{mock_port}/v1"),)
        )
        httpx.put(f"{info.admin_url}/admin/v1/models/bench", content=model.model_dump_json(),
                  headers={"Authorization": f"Bearer {info.admin_token}", "Content-Type": "application/json"},
                  ).raise_for_status()  # fmt: skip
        # A tenant without limits: the bench measures the full path (auth, admission, billing), not 429s.
        admin = AdminClient(info.admin_url, info.admin_token)
        admin.put_plan(Plan(name="bench"))
        admin.put_tenant(Tenant(id="bench", plan="bench"))
        auth = {"Authorization": f"Bearer {admin.create_key(tenant='bench', name='bench')['secret']}"}
        admin.close()
        tollway_url = f"{info.listener_url}/chat/completions"
        assert wait_until(
            lambda: httpx.post(tollway_url, json=BODY, headers=auth).status_code == 200, timeout_s=20
        )
        arms = {
            "direct": f"http://127.0.0.1:{mock_port}/v1/chat/completions",
            "plain_envoy": f"http://127.0.0.1:{plain_port}/v1/chat/completions",
            "tollway": tollway_url,
        }
        results = {}
        for name, url in arms.items():
            results[name] = {**_latency(url, args.requests, auth),
                             "max_rps": _max_rps(url, args.seconds, args.connections, workdir, auth)}  # fmt: skip
        cache = None
        if args.cache:
            cache = cache_arms.run(info.admin_url, info.admin_token, tollway_url, args.requests,
                                   args.seconds, args.cache_clients)  # fmt: skip
    finally:
        stack.stop()
        for process in processes:
            process.stop()

    print(f"{'arm':<12} {'p50 ms':>8} {'p99 ms':>8} {'max RPS':>9}")
    for name, row in results.items():
        rps = f"{row['max_rps']:.0f}" if row["max_rps"] else "n/a"
        print(f"{name:<12} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {rps:>9}")
    base, plain, full = results["direct"], results["plain_envoy"], results["tollway"]
    print(f"\nadded p50 vs direct: plain Envoy +{plain['p50_ms'] - base['p50_ms']:.2f} ms, "
          f"Tollway +{full['p50_ms'] - base['p50_ms']:.2f} ms")  # fmt: skip
    if base["max_rps"] and plain["max_rps"] and full["max_rps"]:
        print(f"max RPS ratio: plain Envoy / direct = {plain['max_rps'] / base['max_rps']:.2f}, "
              f"Tollway / plain Envoy = {full['max_rps'] / plain['max_rps']:.2f}")  # fmt: skip
    if cache is not None:
        cache_arms.report(cache, results, args.cache_clients)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(
        json.dumps({"args": vars(args), "results": results, "cache": cache}, indent=2)
    )
    sys.exit(0)


if __name__ == "__main__":
    main()

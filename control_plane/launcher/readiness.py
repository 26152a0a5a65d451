"""Probes the launcher polls until a component is ready (never a fixed sleep)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx
import redis

from control_plane.redis_client import is_cluster_url, parse_cluster_url

__all__ = ["free_port", "http_ok", "http_status", "redis_ping", "tcp_open", "wait_until"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str, headers: dict[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, headers=headers, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def http_status(url: str, headers: dict[str, str] | None = None) -> int | None:
    """The status of a GET, or None when nothing answers."""
    try:
        return httpx.get(url, headers=headers, timeout=1.0).status_code
    except httpx.HTTPError:
        return None


def redis_ping(url: str) -> bool:
    """True if the server answers PING; for a `redis+cluster://` URL, if every node it names does."""
    urls = parse_cluster_url(url).node_urls if is_cluster_url(url) else (url,)
    return all(_ping(node_url) for node_url in urls)


def _ping(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=1.0)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def wait_until(
    probe: Callable[[], bool], *, timeout_s: float, alive: Callable[[], bool] = lambda: True
) -> bool:
    """Polls `probe` until it is true (→ True), `alive` turns false or time runs out (→ False)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while time.monotonic() < deadline:
        if probe():
            return True
        if not alive():
            return False
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    return probe()

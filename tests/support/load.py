"""A paced load generator for integration tests: threads posting chat completions, recording outcomes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx

__all__ = ["Load"]


@dataclass
class Load:
    """Sends `rate` requests per second in total to `model` until stopped; records every status code
    and, in the same order, each answer's `x-request-id`. Thread i posts to
    `(base_url, *more_urls)[i % n]` (several Envoys)."""

    base_url: str
    model: str
    rate: float = 60.0
    threads: int = 4
    headers: dict[str, str] = field(default_factory=dict)
    more_urls: tuple[str, ...] = ()
    statuses: list[int] = field(default_factory=list)
    request_ids: list[str | None] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=10)

    @property
    def errors(self) -> list[str]:
        with self._lock:
            return [*self.failures, *(f"HTTP {s}" for s in self.statuses if s != 200)]

    def _run(self, index: int) -> None:
        urls = (self.base_url, *self.more_urls)
        url = urls[index % len(urls)]
        interval = self.threads / self.rate
        body = {"model": self.model, "messages": [{"role": "user", "content": "load"}]}
        with httpx.Client(timeout=10.0, headers=self.headers) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                try:
                    response = client.post(f"{url}/chat/completions", json=body)
                    with self._lock:
                        self.statuses.append(response.status_code)
                        self.request_ids.append(response.headers.get("x-request-id"))
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failures.append(type(exc).__name__)
                next_at += interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))

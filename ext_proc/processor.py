"""The processor interface, and the registry that picks a processor for each request.

A processor handles one HTTP request (one ext_proc stream): the stream loop creates it from the first
request-headers event, hands it every phase in order, and calls `close` when the stream ends. For each
event a processor returns a `Reply` or raises a `GatewayError` (`ext_proc.errors`), which the stream
loop turns into the client's error response. Any other exception becomes a generic 500.

Processors are registered per (method, path), like Envoy AI Gateway's `Register(path, factory)`:

    registry = ProcessorRegistry(fallback=UnknownUrlProcessor)
    registry.register("POST", "/v1/embeddings", lambda request: InferenceProcessor(request, tables))
    registry.register_prefix("GET", "/v1/models/", lambda request: ModelListingProcessor(request, tables))

A factory gets the `RequestInfo` of the request (method, path without query, request id, headers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ext_proc.exchange import BodyEvent, Continue, HeadersEvent, Reply, request_id_of

__all__ = [
    "PassThroughProcessor",
    "Processor",
    "ProcessorFactory",
    "ProcessorRegistry",
    "RequestInfo",
    "path_without_query",
]


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the stream loop knows about a request when it picks its processor."""

    method: str
    path: str
    """`:path` without query string or fragment."""
    request_id: str
    """Envoy's `x-request-id`; every reply to the client carries it."""
    headers: Mapping[str, str]

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RequestInfo:
        return cls(
            method=headers.get(":method", ""),
            path=path_without_query(headers.get(":path", "")),
            request_id=request_id_of(headers),
            headers=headers,
        )


class Processor(Protocol):
    """Decisions for one HTTP request, phase by phase."""

    async def request_headers(self, event: HeadersEvent) -> Reply: ...

    async def request_body(self, event: BodyEvent) -> Reply: ...

    async def response_headers(self, event: HeadersEvent) -> Reply: ...

    async def response_body(self, event: BodyEvent) -> Reply: ...

    async def close(self) -> None:
        """The stream ended (normally, early, or cancelled): release anything held for the request."""


ProcessorFactory = Callable[[RequestInfo], Processor]


class PassThroughProcessor:
    """Continues every phase unchanged; processors subclass it and override the phases they handle."""

    __slots__ = ()

    async def request_headers(self, event: HeadersEvent) -> Reply:
        return Continue()

    async def request_body(self, event: BodyEvent) -> Reply:
        return Continue()

    async def response_headers(self, event: HeadersEvent) -> Reply:
        return Continue()

    async def response_body(self, event: BodyEvent) -> Reply:
        return Continue()

    async def close(self) -> None:
        return None


def path_without_query(path: str) -> str:
    """`:path` without its query string or fragment."""
    end = len(path)
    for separator in ("?", "#"):
        index = path.find(separator)
        if index != -1:
            end = min(end, index)
    return path[:end]


class ProcessorRegistry:
    """Factories by (method, exact path) and (method, path prefix); a fallback for everything else."""

    def __init__(self, *, fallback: ProcessorFactory) -> None:
        self._fallback = fallback
        self._exact: dict[tuple[str, str], ProcessorFactory] = {}
        self._prefixes: list[tuple[str, str, ProcessorFactory]] = []

    def register(self, method: str, path: str, factory: ProcessorFactory) -> None:
        key = (method.upper(), path)
        if key in self._exact:
            raise ValueError(f"a processor is already registered for {key[0]} {path}")
        self._exact[key] = factory

    def register_prefix(self, method: str, prefix: str, factory: ProcessorFactory) -> None:
        """Route every path that starts with `prefix` (and is longer than it); longest prefix wins."""
        if any(m == method.upper() and p == prefix for m, p, _ in self._prefixes):
            raise ValueError(f"a processor is already registered for {method.upper()} {prefix}*")
        self._prefixes.append((method.upper(), prefix, factory))
        self._prefixes.sort(key=lambda entry: len(entry[1]), reverse=True)

    def create(self, request: RequestInfo) -> Processor:
        """A new processor for `request`."""
        method, path = request.method, request.path
        factory = self._exact.get((method, path))
        if factory is None:
            factory = next(
                (
                    f
                    for m, p, f in self._prefixes
                    if m == method and len(path) > len(p) and path.startswith(p)
                ),
                self._fallback,
            )
        return factory(request)

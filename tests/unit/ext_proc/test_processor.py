"""Picking a processor by (method, path)."""

from __future__ import annotations

import pytest

from ext_proc.exchange import BodyEvent, Continue, HeadersEvent, Phase, Reply
from ext_proc.processor import PassThroughProcessor, ProcessorRegistry, RequestInfo, path_without_query


class Named(PassThroughProcessor):
    def __init__(self, name: str, request: RequestInfo) -> None:
        self.name = name
        self.request = request

    async def request_headers(self, event: HeadersEvent) -> Reply:
        raise NotImplementedError


def named(name: str):
    return lambda request: Named(name, request)


def info(method: str, path: str) -> RequestInfo:
    return RequestInfo.from_headers({":method": method, ":path": path, "x-request-id": "r"})


@pytest.fixture
def registry() -> ProcessorRegistry:
    registry = ProcessorRegistry(fallback=named("fallback"))
    registry.register("POST", "/v1/chat/completions", named("chat"))
    registry.register("GET", "/v1/models", named("list"))
    registry.register_prefix("GET", "/v1/models/", named("one-model"))
    registry.register_prefix("GET", "/v1/models/special/", named("special"))
    return registry


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/chat/completions", "chat"),
        ("POST", "/v1/chat/completions?api-version=1", "chat"),
        ("GET", "/v1/chat/completions", "fallback"),
        ("POST", "/v1/chat/completions/", "fallback"),
        ("GET", "/v1/models", "list"),
        ("GET", "/v1/models?limit=5#frag", "list"),
        ("GET", "/v1/models/", "fallback"),
        ("GET", "/v1/models/meta-llama/Llama-3-8B", "one-model"),
        ("GET", "/v1/models/special/x", "special"),
        ("DELETE", "/v1/models/x", "fallback"),
        ("POST", "/v1/foo", "fallback"),
        ("", "", "fallback"),
    ],
)
def test_create_picks_by_method_and_path(
    registry: ProcessorRegistry, method: str, path: str, expected: str
) -> None:
    processor = registry.create(info(method, path))
    assert isinstance(processor, Named)
    assert processor.name == expected
    assert processor.request.path == path_without_query(path)


def test_duplicate_registration_is_refused(registry: ProcessorRegistry) -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register("post", "/v1/chat/completions", named("again"))
    with pytest.raises(ValueError, match="already registered"):
        registry.register_prefix("GET", "/v1/models/", named("again"))


def test_request_info_from_headers() -> None:
    request = RequestInfo.from_headers({":method": "GET", ":path": "/v1/models?a=b", "x-request-id": "abc"})
    assert (request.method, request.path, request.request_id) == ("GET", "/v1/models", "abc")
    generated = RequestInfo.from_headers({":method": "GET", ":path": "/"})
    assert len(generated.request_id) == 32


@pytest.mark.parametrize(
    ("raw", "path"),
    [("/a", "/a"), ("/a?b=c", "/a"), ("/a#f?x", "/a"), ("/a?x#f", "/a"), ("", ""), ("?q", "")],
)
def test_path_without_query(raw: str, path: str) -> None:
    assert path_without_query(raw) == path


async def test_pass_through_continues_every_phase() -> None:
    processor = PassThroughProcessor()
    event = HeadersEvent(Phase.RESPONSE_HEADERS, {}, False)
    assert await processor.request_headers(HeadersEvent(Phase.REQUEST_HEADERS, {}, False)) == Continue()
    assert await processor.response_headers(event) == Continue()
    assert await processor.request_body(BodyEvent(Phase.REQUEST_BODY, b"{}", True)) == Continue()
    assert await processor.response_body(BodyEvent(Phase.RESPONSE_BODY, b"", True)) == Continue()
    assert await processor.close() is None

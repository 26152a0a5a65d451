"""The stream loop through a real in-process grpc.aio server and a grpc.aio client channel."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson
import pytest

from control_plane.model import RequestOutcome
from ext_proc.exchange import BodyEvent, Continue, HeadersEvent, Reply
from ext_proc.processor import PassThroughProcessor, RequestInfo
from ext_proc.processors import openai_processors
from ext_proc.proto import ExtProcMessages, ProcessingCodec
from ext_proc.server import SERVICE_NAME, ExternalProcessorService, create_grpc_server
from ext_proc.services import GatewayServices
from tests.support.governance_fakes import FakeBilling

METHOD = f"/{SERVICE_NAME}/Process"
SECRET = "db password is hunter2"


class ExplodingProcessor(PassThroughProcessor):
    def __init__(self, request: RequestInfo, phase: str) -> None:
        self._phase = phase

    async def request_headers(self, event: HeadersEvent) -> Reply:
        if self._phase == "headers":
            raise RuntimeError(SECRET)
        return Continue()

    async def request_body(self, event: BodyEvent) -> Reply:
        raise ValueError(SECRET)


class ClosingProcessor(PassThroughProcessor):
    """Records that the stream loop closed it."""

    def __init__(self, closed: asyncio.Event) -> None:
        self.closed = closed

    async def close(self) -> None:
        self.closed.set()


class ExtProcClient:
    def __init__(self, channel: grpc.aio.Channel, messages: ExtProcMessages) -> None:
        self.process = channel.stream_stream(
            METHOD,
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=messages.ProcessingResponse.FromString,
        )


async def _start(codec: ProcessingCodec, services: GatewayServices, closed: asyncio.Event, *, max_bytes: int):
    registry = openai_processors(services)
    registry.register("POST", "/test/explode-headers", lambda request: ExplodingProcessor(request, "headers"))
    registry.register("POST", "/test/explode-body", lambda request: ExplodingProcessor(request, "body"))
    registry.register("POST", "/test/closing", lambda request: ClosingProcessor(closed))
    server = create_grpc_server(ExternalProcessorService(registry), codec, max_message_bytes=max_bytes)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
def closed() -> asyncio.Event:
    return asyncio.Event()


@pytest.fixture
async def client(codec, messages, services, closed) -> AsyncIterator[ExtProcClient]:
    server, port = await _start(codec, services, closed, max_bytes=16 * 1024 * 1024)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield ExtProcClient(channel, messages)
    finally:
        await channel.close()
        await server.stop(None)


async def test_every_phase_is_answered_in_order(client: ExtProcClient, driver, billing: FakeBilling) -> None:
    call = client.process()
    await call.write(driver.request_headers("POST", "/v1/chat/completions", extra={"x-tollway-tenant": "t"}))
    first = await call.read()
    assert first.WhichOneof("response") == "request_headers"
    assert list(first.request_headers.response.header_mutation.remove_headers) == ["x-tollway-tenant"]
    await call.write(driver.request_body({"model": "llama3", "messages": []}))
    second = await call.read()
    assert second.WhichOneof("response") == "request_body"
    assert second.request_body.response.clear_route_cache is True
    assert driver.set_headers(second.request_body.response.header_mutation) == {
        "x-tollway-model": ("meta-llama/Llama-3-8B", 2),
        "x-tollway-tenant": ("acme", 2),
    }
    await call.write(driver.response_headers(200, "application/json"))
    third = await call.read()
    assert third.WhichOneof("response") == "response_headers"
    assert third.mode_override.response_body_mode == 1  # STREAMED
    usage = {"prompt_tokens": 3, "completion_tokens": 4}
    await call.write(driver.response_body({"choices": [], "usage": usage}))
    assert (await call.read()).WhichOneof("response") == "response_body"
    # Trailers (if Envoy sends them) are continued untouched.
    await call.write(driver.m.ProcessingRequest(response_trailers=driver.m.HttpTrailers()))
    assert (await call.read()).WhichOneof("response") == "response_trailers"
    await call.done_writing()
    assert await call.read() is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK
    assert [(r.outcome, r.prompt_tokens, r.completion_tokens) for r in billing.results] == [
        (RequestOutcome.OK, 3, 4)
    ]


async def test_immediate_response_from_headers(client: ExtProcClient, driver) -> None:
    call = client.process()
    await call.write(driver.request_headers("GET", "/v1/models", end_of_stream=True, request_id="rid-models"))
    status, headers, body, _ = driver.immediate(await call.read())
    assert (status, headers["x-request-id"], len(body["data"])) == (200, "rid-models", 5)
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK


@pytest.mark.parametrize("path", ["/test/explode-headers", "/test/explode-body"])
async def test_processor_exception_becomes_generic_500(
    client: ExtProcClient, driver, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    call = client.process()
    with caplog.at_level(logging.ERROR, logger="ext_proc.server"):
        await call.write(driver.request_headers("POST", path, request_id="rid-boom"))
        response = await call.read()
        if response.WhichOneof("response") == "request_headers":
            await call.write(driver.request_body({"model": "mini"}))
            response = await call.read()
    status, headers, body, details = driver.immediate(response)
    assert status == 500
    assert headers == {"content-type": "application/json", "x-request-id": "rid-boom"}
    assert body == {
        "error": {
            "message": "The server had an error while processing your request. Please retry.",
            "type": "server_error",
            "code": "internal_error",
            "param": None,
        }
    }
    assert details == "tollway_internal_error"
    assert SECRET.encode() not in response.SerializeToString()
    [record] = [r for r in caplog.records if r.name == "ext_proc.server"]
    assert "ExplodingProcessor" in record.getMessage()
    assert "rid-boom" in record.getMessage()
    assert record.exc_info is not None
    assert SECRET in str(record.exc_info[1])
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK


async def test_body_before_headers_is_a_logged_500(
    client: ExtProcClient, driver, caplog: pytest.LogCaptureFixture
) -> None:
    call = client.process()
    with caplog.at_level(logging.ERROR, logger="ext_proc.server"):
        await call.write(driver.request_body({"model": "mini"}))
        status, _, body, _ = driver.immediate(await call.read())
    assert status == 500
    assert body["error"]["code"] == "internal_error"
    assert "before the request headers" in caplog.text
    await call.done_writing()


async def test_five_megabyte_body_fits(client: ExtProcClient, driver) -> None:
    call = client.process()
    await call.write(driver.request_headers("POST", "/v1/embeddings"))
    await call.read()
    big = orjson.dumps({"model": "mini", "input": "x" * (5 * 1024 * 1024)})
    await call.write(driver.request_body(big))
    response = await call.read()
    assert (
        driver.set_headers(response.request_body.response.header_mutation)["x-tollway-model"][0]
        == "gpt-4o-mini"
    )
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK


async def test_max_message_bytes_is_applied(codec, messages, services, closed, driver) -> None:
    server, port = await _start(codec, services, closed, max_bytes=1024 * 1024)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = ExtProcClient(channel, messages).process()
        await call.write(driver.request_headers("POST", "/v1/embeddings"))
        await call.read()
        await call.write(driver.request_body(orjson.dumps({"model": "mini", "input": "x" * 2_000_000})))
        assert await call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await server.stop(None)


async def test_half_close_after_headers_closes_the_processor(
    client: ExtProcClient, driver, closed: asyncio.Event
) -> None:
    call = client.process()
    await call.write(driver.request_headers("POST", "/test/closing"))
    assert (await call.read()).WhichOneof("response") == "request_headers"
    assert not closed.is_set()
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK
    await asyncio.wait_for(closed.wait(), 2)


async def test_cancelled_stream_closes_the_processor(
    client: ExtProcClient, driver, closed: asyncio.Event
) -> None:
    call = client.process()
    await call.write(driver.request_headers("POST", "/test/closing"))
    await call.read()
    call.cancel()
    await asyncio.wait_for(closed.wait(), 2)


async def test_cancelled_stream_bills_an_admitted_request_once(
    client: ExtProcClient, driver, billing: FakeBilling
) -> None:
    call = client.process()
    await call.write(driver.request_headers("POST", "/v1/chat/completions", request_id="rid-gone"))
    await call.read()
    await call.write(driver.request_body({"model": "mini", "messages": [], "stream": True}))
    await call.read()
    await call.write(driver.response_headers(200, "text/event-stream"))
    await call.read()
    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"Hello"}}]}\n\n'
    await call.write(driver.response_body(chunk, end_of_stream=False))
    await call.read()
    call.cancel()
    for _ in range(100):
        if billing.finished:
            break
        await asyncio.sleep(0.02)
    [(admission, result)] = billing.finished
    assert admission.request.request_id == "rid-gone"
    assert (result.outcome, result.prompt_tokens, result.completion_tokens, result.estimated) == (
        RequestOutcome.INCOMPLETE,
        3,
        1,
        True,
    )


async def test_concurrent_streams_keep_their_own_state(client: ExtProcClient, driver) -> None:
    calls: list[Any] = [client.process() for _ in range(20)]
    for index, call in enumerate(calls):
        await call.write(driver.request_headers("POST", "/v1/chat/completions", request_id=f"rid-{index}"))
    for call in calls:
        await call.read()
    for index, call in enumerate(reversed(calls)):
        await call.write(driver.request_body({"model": "small" if index % 2 else "llama3"}))
    models = []
    for call in reversed(calls):
        response = await call.read()
        models.append(
            driver.set_headers(response.request_body.response.header_mutation)["x-tollway-model"][0]
        )
        await call.done_writing()
    assert models == ["meta-llama/Llama-3-8B", "gpt-4o-mini"] * 10


async def test_a_request_without_phase_fails_the_stream(client: ExtProcClient, driver) -> None:
    # Envoy then applies its failure mode (failure_mode_allow: false → error reply to the client).
    call = client.process()
    await call.write(driver.m.ProcessingRequest())
    assert await asyncio.wait_for(call.code(), 5) == grpc.StatusCode.UNKNOWN

"""The gRPC side of ext_proc: one `Process` stream per HTTP request, one answer per message, in order.

The stream loop knows nothing about OpenAI: it picks a processor from the `ProcessorRegistry` on the
first request-headers event, hands it each phase, and turns errors into replies with
`ext_proc.errors.error_reply`. Envoy often ends a stream early (half-close, or CANCELLED once it
needs nothing more); both are normal, and the processor is closed in `finally` either way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc  # type: ignore[import-untyped]

from ext_proc.errors import GatewayError, error_reply
from ext_proc.exchange import (
    BodyEvent,
    Continue,
    HeadersEvent,
    Phase,
    ProcessingAnswer,
    ProcessingEvent,
    Reply,
)
from ext_proc.processor import Processor, ProcessorRegistry, RequestInfo
from ext_proc.proto.codec import ProcessingCodec

__all__ = ["SERVICE_NAME", "ExternalProcessorService", "StreamSession", "create_grpc_server"]

_logger = logging.getLogger(__name__)

SERVICE_NAME = "envoy.service.ext_proc.v3.ExternalProcessor"


class _NoProcessorError(RuntimeError):
    """A body or response event came before the request headers (a filter configuration error)."""


class StreamSession:
    """The state of one stream: its processor and the request id used in error replies."""

    __slots__ = ("_processor", "_registry", "_request_id")

    def __init__(self, registry: ProcessorRegistry) -> None:
        self._registry = registry
        self._processor: Processor | None = None
        self._request_id = ""

    @property
    def processor(self) -> Processor | None:
        return self._processor

    async def answer(self, event: ProcessingEvent) -> ProcessingAnswer:
        """The reply to one event; never raises for a processor's failure."""
        try:
            reply = await self._dispatch(event)
        except GatewayError as exc:
            reply = error_reply(exc, request_id=self._request_id)
        except Exception as exc:
            _logger.exception(
                "ext_proc %s failed on %s (request %s)",
                type(self._processor).__name__ if self._processor is not None else "stream",
                event.phase.value,
                self._request_id,
            )
            reply = error_reply(exc, request_id=self._request_id)
        return ProcessingAnswer(event.phase, reply)

    async def close(self) -> None:
        if self._processor is None:
            return
        try:
            await self._processor.close()
        except Exception:
            _logger.exception(
                "ext_proc %s failed to close (request %s)", type(self._processor).__name__, self._request_id
            )

    async def _dispatch(self, event: ProcessingEvent) -> Reply:
        if isinstance(event, HeadersEvent):
            if event.phase is Phase.REQUEST_HEADERS:
                if self._processor is None:
                    request = RequestInfo.from_headers(event.headers)
                    self._request_id = request.request_id
                    self._processor = self._registry.create(request)
                return await self._processor.request_headers(event)
            return await self._current().response_headers(event)
        if isinstance(event, BodyEvent):
            if event.phase is Phase.REQUEST_BODY:
                return await self._current().request_body(event)
            return await self._current().response_body(event)
        return Continue()  # trailers: nothing to decide yet

    def _current(self) -> Processor:
        if self._processor is None:
            raise _NoProcessorError("ext_proc received a body or response phase before the request headers")
        return self._processor


class ExternalProcessorService:
    """The `Process` method: answers each event of a stream through a fresh `StreamSession`."""

    def __init__(self, registry: ProcessorRegistry) -> None:
        self._registry = registry

    async def process(
        self, events: AsyncIterator[ProcessingEvent], context: object
    ) -> AsyncIterator[ProcessingAnswer]:
        session = StreamSession(self._registry)
        try:
            async for event in events:
                yield await session.answer(event)
        finally:
            await session.close()


def create_grpc_server(
    service: ExternalProcessorService, codec: ProcessingCodec, *, max_message_bytes: int
) -> grpc.aio.Server:
    """A grpc.aio server with the ExternalProcessor service; the caller adds a port and starts it."""
    handler = grpc.stream_stream_rpc_method_handler(
        service.process,
        request_deserializer=codec.decode_request,
        response_serializer=codec.encode_answer,
    )
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # One process per port: never share a port silently with a second ext_proc.
            ("grpc.so_reuseport", 0),
            # The bootstrap has Envoy ping its ext_proc connections (HTTP/2 keepalive); grpc-core's
            # defaults count those pings as abuse and GOAWAY the connection, so accept them.
            ("grpc.http2.min_ping_interval_without_data_ms", 1000),
            ("grpc.http2.max_ping_strikes", 0),
            ("grpc.keepalive_permit_without_calls", 1),
        ]
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE_NAME, {"Process": handler}),)
    )
    return server

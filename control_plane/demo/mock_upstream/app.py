"""The mock's ASGI app: OpenAI routes, SSE streaming, failure injection and counters (`create_app`).

Besides the OpenAI routes: `GET /health`, `GET /mock/stats`, `POST /mock/reset` (counters, logs and the
fail-times ledger), and `GET|PUT|DELETE /mock/behaviour` to read, replace or restore the server-wide
failure and timing defaults while the server runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from control_plane.demo.mock_upstream.behaviour import (
    BACKEND_HEADER,
    Behaviour,
    BehaviourError,
    FailureLedger,
    behaviour_defaults,
    replace_behaviour,
)
from control_plane.demo.mock_upstream.reply import (
    Endpoint,
    Reply,
    RequestError,
    embeddings_body,
    error_body,
    models_body,
    parse_embedding_request,
    parse_prompt,
)
from control_plane.demo.mock_upstream.settings import MockUpstreamSettings
from control_plane.demo.mock_upstream.stats import GenerationRecord, MockStats, Outcome

__all__ = ["MockUpstream", "StreamCutError", "create_app"]

_DONE = b"data: [DONE]\n\n"
_GENERATION_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings"})
_REQUEST_ID = b"x-request-id"
_SERVER_WIDE_FAIL_KEY = ""


class StreamCutError(Exception):
    """Raised mid-body on purpose: the server closes the connection without finishing the response."""


class MockUpstream:
    """The ASGI app. Owns its state (counters, fail-times ledger, behaviour): two apps share nothing.

    `startup` is what the app was built with; `settings` the defaults in force, which differ from it
    after a `PUT /mock/behaviour` until the next `DELETE /mock/behaviour`.
    """

    def __init__(self, settings: MockUpstreamSettings) -> None:
        self.startup = settings
        self.settings = settings
        self.stats = MockStats()
        self.ledger = FailureLedger()
        self._backend_header = (BACKEND_HEADER.encode(), settings.name.encode())
        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/completions", self._completions, methods=["POST"]),
            Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/health", self._health, methods=["GET"]),
            Route("/mock/stats", self._stats, methods=["GET"]),
            Route("/mock/reset", self._reset, methods=["POST"]),
            Route("/mock/behaviour", self._behaviour, methods=["GET", "PUT", "DELETE"]),
        ]
        handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
            HTTPException: _http_error,
            RequestError: _request_error,
            BehaviourError: _request_error,
        }
        self._router = Starlette(routes=routes, exception_handlers=handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._router(scope, receive, send)
            return
        path: str = scope["path"]
        if not path.startswith("/mock/"):
            self.stats.requests[path] += 1
        arrival = (
            self.stats.arrival(path, _request_id(scope), _credentials(scope))
            if path in _GENERATION_PATHS
            else None
        )

        async def send_with_name(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self._backend_header]
                if arrival is not None:
                    arrival.status = message["status"]
            await send(message)

        await self._router(scope, receive, send_with_name)

    async def _chat(self, request: Request) -> Response:
        return await self._generate(request, Endpoint.CHAT)

    async def _completions(self, request: Request) -> Response:
        return await self._generate(request, Endpoint.COMPLETION)

    async def _generate(self, request: Request, endpoint: Endpoint) -> Response:
        behaviour, failure = self._begin(request)
        if failure is not None:
            return failure
        prompt = parse_prompt(endpoint, await _json_body(request))
        reply = Reply.build(
            prompt, self.settings.name, behaviour.tokens, behaviour.usage, behaviour.cached_tokens
        )
        request_id = request.headers.get("x-request-id")
        if prompt.stream and behaviour.hold_headers:
            return _HeldStreamResponse(self._events(reply, behaviour, request_id))
        if prompt.stream:
            return StreamingResponse(
                self._events(reply, behaviour, request_id),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )
        if behaviour.stall_after is not None:
            self.stats.responses["stalled"] += 1
            self._record(reply, request_id, Outcome.STALLED, sent=0, usage=None)
            await _until_disconnect(request)
            return Response(status_code=499)
        await anyio.sleep(behaviour.generation_s(len(reply.pieces)))
        body = orjson.dumps(reply.body())
        if behaviour.cut_after is not None:
            self.stats.responses["cut"] += 1
            self._record(reply, request_id, Outcome.CUT, sent=0, usage=None)
            return _CutResponse(body)
        self.stats.responses["completed"] += 1
        self._record(reply, request_id, Outcome.COMPLETED, sent=len(reply.pieces), usage=reply.usage)
        return _json(body)

    def _record(
        self, reply: Reply, request_id: str | None, outcome: Outcome, sent: int, usage: dict[str, Any] | None
    ) -> None:
        self.stats.usage_sent(usage)
        prompt = reply.prompt
        record = GenerationRecord(
            request_id=request_id,
            endpoint=prompt.endpoint.value,
            model=prompt.model,
            stream=prompt.stream,
            outcome=outcome,
            prompt_tokens=prompt.prompt_tokens,
            completion_tokens_sent=sent,
            usage=usage,
        )
        self.stats.generation(record)

    async def _events(
        self, reply: Reply, behaviour: Behaviour, request_id: str | None
    ) -> AsyncIterator[bytes]:
        """The SSE body. A chunk counts as sent once the server took it (the generator resumed)."""
        self.stats.streams["started"] += 1
        ended = False
        pieces = reply.pieces
        cut_at = _clamp(behaviour.cut_after, len(pieces))
        stall_at = _clamp(behaviour.stall_after, len(pieces))
        sent = 0
        usage: dict[str, Any] | None = None
        outcome = Outcome.ABORTED
        try:
            await _sleep_ms(behaviour.first_token_delay_ms)
            role = reply.role_chunk()
            if role is not None:
                yield _event(role)
            for index in range(len(pieces) + 1):
                if index == cut_at:
                    ended, outcome = True, Outcome.CUT
                    self.stats.streams["cut"] += 1
                    raise StreamCutError(f"cut after {index} content chunks")
                if index == stall_at:
                    outcome = Outcome.STALLED
                    self.stats.streams["stalled"] += 1
                    await anyio.sleep_forever()
                if index == len(pieces):
                    break
                if index:
                    await _sleep_ms(behaviour.inter_token_delay_ms)
                yield _event(reply.content_chunk(pieces[index]))
                sent += 1
            yield _event(reply.finish_chunk())
            if reply.streams_usage:
                chunk = reply.usage_chunk()
                yield _event(chunk)
                usage = chunk["usage"]
            yield _DONE
            ended, outcome = True, Outcome.COMPLETED
            self.stats.streams["completed"] += 1
        finally:
            if not ended:
                self.stats.streams["aborted"] += 1
            self._record(reply, request_id, outcome, sent=sent, usage=usage)

    async def _embeddings(self, request: Request) -> Response:
        behaviour, failure = self._begin(request)
        if failure is not None:
            return failure
        embedding_request = parse_embedding_request(await _json_body(request))
        await _sleep_ms(behaviour.first_token_delay_ms)
        return _json(orjson.dumps(embeddings_body(embedding_request)))

    async def _models(self, request: Request) -> Response:
        _, failure = self._begin(request)
        if failure is not None:
            return failure
        return _json(orjson.dumps(models_body(self.settings.models, self.settings.name)))

    async def _health(self, request: Request) -> Response:
        return _json(orjson.dumps({"status": "ok", "name": self.settings.name}))

    async def _stats(self, request: Request) -> Response:
        return _json(orjson.dumps({"name": self.settings.name, **self.stats.snapshot()}))

    async def _reset(self, request: Request) -> Response:
        """Counters, logs and the fail-times ledger start afresh; a behaviour override stays."""
        self.stats.reset()
        self.ledger.reset()
        return await self._stats(request)

    async def _behaviour(self, request: Request) -> Response:
        """GET shows the defaults in force; PUT replaces them (fields left out: startup values); DELETE
        restores the startup settings. PUT and DELETE restart the fail-times count of the server-wide
        failure, so a new `fail_times` counts from zero."""
        if request.method == "PUT":
            self.settings = replace_behaviour(self.startup, await _json_body(request))
            self.ledger.forget(_SERVER_WIDE_FAIL_KEY)
        elif request.method == "DELETE":
            self.settings = self.startup
            self.ledger.forget(_SERVER_WIDE_FAIL_KEY)
        body = {"overridden": self.settings != self.startup, **behaviour_defaults(self.settings)}
        return _json(orjson.dumps(body))

    def _begin(self, request: Request) -> tuple[Behaviour, Response | None]:
        """Resolve the request's behaviour and, when it says so, the injected failure to answer with."""
        behaviour = Behaviour.resolve(request.headers, self.settings)
        if behaviour.status is None or not self.ledger.should_fail(behaviour):
            return behaviour, None
        self.stats.failures_injected += 1
        headers = {} if behaviour.retry_after_s is None else {"retry-after": str(behaviour.retry_after_s)}
        message = f"mock backend {self.settings.name} injected status {behaviour.status}"
        body = orjson.dumps(error_body(behaviour.status, message, code="mock_injected_failure"))
        return behaviour, _json(body, behaviour.status, headers)


class _CutResponse(Response):
    """Announces the full Content-Length, sends half of the body, then drops the connection."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        raise StreamCutError(f"cut after {len(half)} of {len(self.body)} body bytes")


class _HeldStreamResponse(StreamingResponse):
    """An SSE stream whose status line and headers go out only together with its first event.

    Like a server that queues a request before committing to an answer: the client sees nothing at all
    until the first token is ready. While it waits, a disconnect cancels the generator (which logs the
    reply as aborted), as it does for a plain `StreamingResponse`.
    """

    def __init__(self, events: AsyncIterator[bytes]) -> None:
        super().__init__(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    await self._stream(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                await _until_disconnected(receive)
                group.cancel_scope.cancel()
        except BaseExceptionGroup as errors:  # one failing task: re-raise its error (the intended cut)
            if len(errors.exceptions) != 1:
                raise
            error = errors.exceptions[0]
            raise error from error.__cause__ or error.__context__

    async def _stream(self, send: Send) -> None:
        headers = self.raw_headers
        start: Message = {"type": "http.response.start", "status": self.status_code, "headers": headers}
        try:
            first = await anext(self._events, b"")
        except StreamCutError:  # cut before the first event: the headers, then the dropped connection
            await send(start)
            raise
        await send(start)
        await send({"type": "http.response.body", "body": first, "more_body": True})
        async for chunk in self._events:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def create_app(settings: MockUpstreamSettings) -> MockUpstream:
    """Build the ASGI app for one mock backend."""
    return MockUpstream(settings)


def _json(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _clamp(position: int | None, length: int) -> int | None:
    return None if position is None else min(position, length)


async def _sleep_ms(milliseconds: int) -> None:
    if milliseconds:
        await anyio.sleep(milliseconds / 1000.0)


async def _json_body(request: Request) -> object:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"the request body is not valid JSON: {exc}") from None


async def _until_disconnect(request: Request) -> None:
    await _until_disconnected(request.receive)


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


_CREDENTIAL_HEADERS = frozenset({b"authorization", b"api-key", b"x-api-key"})


def _credentials(scope: Scope) -> dict[str, str]:
    return {
        bytes(name).decode("latin-1"): bytes(value).decode("latin-1")
        for name, value in scope["headers"]
        if bytes(name) in _CREDENTIAL_HEADERS
    }


def _request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID:
            return bytes(value).decode("latin-1")
    return None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _json(orjson.dumps(error_body(exc.status_code, exc.detail)), exc.status_code, exc.headers)


async def _request_error(request: Request, exc: Exception) -> Response:
    param = exc.param if isinstance(exc, RequestError) else None
    return _json(orjson.dumps(error_body(400, str(exc), param=param)), 400)

"""POST /v1/chat/completions, /v1/completions and /v1/embeddings: authenticate, admit, route, bill.

Request headers: drop client copies of `x-tollway-*`, authenticate (401/503 before anything else).
Request body (BUFFERED): parse once, resolve the model, check the plan's and the key's allow-lists,
estimate prompt tokens, reserve quota (429/503), set `x-tollway-model` + `x-tollway-tenant` and let
Envoy pick the route again. A streaming request also gets `stream_options.include_usage`.
Response headers: errors → no body wanted (NONE), the reservation is released; SSE and JSON →
STREAMED (never BUFFERED: see `ext_proc.json_response`). Response body: read usage and bill it.
Whatever happens, an admitted request is billed exactly once: at the end of its response, or in
`close` if the stream ended early (client gone, upstream cut), from what was seen so far, flagged as
estimated.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, NoReturn

from control_plane.model import (
    BACKEND_HEADER,
    MODEL_HEADER,
    STREAM_HEADER,
    TENANT_HEADER,
    HitBilling,
    RequestOutcome,
    cache_hit_cost_pico,
    resolve_cache_policy,
    token_cost_pico,
)
from ext_proc.cache.contracts import CacheHit
from ext_proc.cache.request_cache import RequestCache
from ext_proc.errors import (
    BodyRequiredError,
    GatewayError,
    ModelNotFoundError,
    PermissionDeniedError,
    RegistryUnavailableError,
)
from ext_proc.exchange import (
    BodyEvent,
    Continue,
    HeaderEdit,
    HeadersEvent,
    Immediate,
    Reply,
    ResponseBodyMode,
)
from ext_proc.governance.contracts import Admission, AdmissionRequest, RequestResult
from ext_proc.json_response import JsonBodyReader
from ext_proc.openai_request import InferenceEndpoint, InferenceRequest, parse_json_object, read_request
from ext_proc.processor import PassThroughProcessor, RequestInfo
from ext_proc.processors.caller import Caller, gateway_headers_of, identify, model_allowed
from ext_proc.response_usage import (
    SseUsageReader,
    Usage,
    output_text_tokens,
)
from ext_proc.services import GatewayServices

__all__ = ["InferenceEndpoint", "InferenceProcessor"]

_log = logging.getLogger(__name__)

_SSE = "text/event-stream"


class InferenceProcessor(PassThroughProcessor):
    """One inference request to `endpoint`."""

    __slots__ = (
        "_admission",
        "_backend",
        "_body_parts",
        "_cache",
        "_caller",
        "_endpoint",
        "_finished",
        "_inference",
        "_json",
        "_model",
        "_request",
        "_services",
        "_sse",
        "_started_at",
        "_status",
        "_stream",
    )

    def __init__(self, request: RequestInfo, services: GatewayServices, endpoint: InferenceEndpoint) -> None:
        self._request = request
        self._services = services
        self._endpoint = endpoint
        self._body_parts: list[bytes] = []
        self._started_at: datetime = services.clock()
        self._caller: Caller | None = None
        self._model = ""
        self._inference: InferenceRequest | None = None
        self._admission: Admission | None = None
        self._finished = False
        self._status = 0
        self._backend = ""
        self._sse: SseUsageReader | None = None
        self._json: JsonBodyReader | None = None
        self._stream = False
        self._cache: RequestCache | None = None

    @property
    def endpoint(self) -> InferenceEndpoint:
        return self._endpoint

    # -- request ---------------------------------------------------------------------------------

    async def request_headers(self, event: HeadersEvent) -> Reply:
        caller, refusal = await identify(self._services, event)
        self._caller = caller
        if refusal is not None:
            self._reject(refusal)
        if event.end_of_stream:
            self._reject(BodyRequiredError())
        client_copies = gateway_headers_of(event)
        return Continue(HeaderEdit(remove_headers=client_copies)) if client_copies else Continue()

    async def request_body(self, event: BodyEvent) -> Reply:
        if not event.end_of_stream:  # only if the filter is not configured BUFFERED: gather the chunks
            self._body_parts.append(event.body)
            return Continue()
        body = b"".join((*self._body_parts, event.body)) if self._body_parts else event.body
        self._body_parts = []
        caller = self._require_caller()
        try:
            inference, document = self._read(body, caller)
        except GatewayError as error:
            self._reject(error)
        self._inference = inference
        plan = caller.policy.plan
        reserved_output = (
            plan.output_reserve_tokens
            if inference.max_output_tokens is None
            else min(inference.max_output_tokens, plan.output_reserve_tokens)
        )
        self._admission = await self._services.gate.admit(
            AdmissionRequest(
                request_id=self._request.request_id,
                principal=caller.principal,
                policy=caller.policy,
                model=self._model,
                stream=inference.stream,
                prompt_tokens=inference.prompt_tokens,
                reserved_output_tokens=reserved_output,
                started_at=self._started_at,
            )
        )
        if self._endpoint is InferenceEndpoint.CHAT_COMPLETIONS and self._services.cache is not None:
            hit = await self._look_up_cache(caller, document)
            if hit is not None:
                return self._serve_hit(hit, inference)
        headers: list[tuple[str, str]] = [
            (MODEL_HEADER, self._model),
            (TENANT_HEADER, caller.principal.tenant),
        ]
        if inference.stream:
            headers.append((STREAM_HEADER, "1"))
        if inference.upstream_body is not None:
            headers.append(("content-length", str(len(inference.upstream_body))))
        return Continue(
            HeaderEdit(set_headers=tuple(headers)), clear_route_cache=True, body=inference.upstream_body
        )

    def _read(self, body: bytes, caller: Caller) -> tuple[InferenceRequest, dict[str, Any]]:
        document = parse_json_object(body)
        self._stream = document.get("stream") is True  # known even if the request is refused below
        table = self._services.models.current
        if table is None:
            raise RegistryUnavailableError()
        requested = document.get("model")
        canonical = table.canonical_name(requested) if isinstance(requested, str) else None
        if canonical is not None:
            self._model = canonical
        inference = read_request(
            document,
            self._endpoint,
            self._services.tokens,
            output_cap=caller.policy.plan.max_output_tokens,
        )
        if canonical is None:
            raise ModelNotFoundError(inference.model)
        if not model_allowed(caller, canonical):
            raise PermissionDeniedError.model_not_allowed(inference.model)
        return inference, document

    # -- response cache --------------------------------------------------------------------------

    async def _look_up_cache(self, caller: Caller, document: dict[str, Any]) -> CacheHit | None:
        table = self._services.models.current
        policy = caller.policy
        settings = resolve_cache_policy(
            policy.plan.cache,
            policy.tenant.cache,
            table.cache_policies.get(self._model) if table is not None else None,
        )
        self._cache = RequestCache.open(
            self._services.cache,
            headers=self._request.headers,
            document=document,
            tenant=caller.principal.tenant,
            model=self._model,
            settings=settings,
        )
        try:
            return await self._cache.lookup()
        except Exception:  # noqa: BLE001 -- the cache must never fail a request: treat it as a miss
            _log.exception("cache lookup failed for request %s; served as a bypass", self._request.request_id)
            self._cache = None
            return None

    def _serve_hit(self, hit: CacheHit, inference: InferenceRequest) -> Immediate:
        """Answer from the cache: bill the hit (free, or at the cache price) and reply at once."""
        cache, admission = self._cache, self._admission
        assert cache is not None
        assert admission is not None
        answer = hit.answer
        billed_tokens = cache.hit_billing is HitBilling.CACHE_PRICE
        self._status = 200
        self._finish(
            RequestOutcome.CACHE_HIT,
            prompt_tokens=answer.prompt_tokens if billed_tokens else 0,
            completion_tokens=answer.completion_tokens if billed_tokens else 0,
            cache_hit=True,
        )
        table = self._services.policies.current
        price = table.price(self._model, self._started_at) if table is not None else None
        tokens = answer.prompt_tokens + answer.completion_tokens
        cache.record_saving(
            hit,
            full_cost_pico=token_cost_pico(
                price,
                prompt_tokens=answer.prompt_tokens,
                completion_tokens=answer.completion_tokens,
                cached_tokens=0,
            ),
            billed_cost_pico=cache_hit_cost_pico(price, tokens=tokens) if billed_tokens else 0,
        )
        return cache.hit_reply(
            hit,
            request_id=self._request.request_id,
            stream=inference.stream,
            include_usage=inference.stream and not inference.usage_injected,
            extra_headers=admission.rate_limit_headers,
        )

    # -- response --------------------------------------------------------------------------------

    async def response_headers(self, event: HeadersEvent) -> Reply:
        status = _status_of(event)
        self._status = status
        self._backend = event.headers.get(BACKEND_HEADER, "")
        remove = list(gateway_headers_of(event))
        set_headers = self._admission.rate_limit_headers if self._admission is not None else ()
        if self._cache is not None:
            set_headers = (*set_headers, *self._cache.headers())
        if self._admission is None or not 200 <= status < 300:
            self._finish(RequestOutcome.UPSTREAM_ERROR, error_code=f"upstream_{status}")
            return Continue(HeaderEdit(set_headers, tuple(remove)), response_body_mode=ResponseBodyMode.NONE)
        if event.headers.get("content-type", "").startswith(_SSE):
            inference = self._inference
            cache = self._cache
            self._sse = SseUsageReader(
                self._services.tokens,
                strip_usage_chunk=inference is not None and inference.usage_injected,
                on_document=cache.observe_chunk if cache is not None and cache.storing else None,
            )
            remove.append("content-length")  # the usage chunk may be cut out: the length may change
        else:
            self._json = JsonBodyReader(
                max_bytes=self._services.max_json_response_bytes, expected_bytes=_content_length(event)
            )
        # STREAMED for JSON too (see `ext_proc.json_response`): the body is never changed, so a JSON
        # response keeps its content-length.
        return Continue(HeaderEdit(set_headers, tuple(remove)), response_body_mode=ResponseBodyMode.STREAMED)

    async def response_body(self, event: BodyEvent) -> Reply:
        if self._sse is not None:
            replacement = self._sse.feed(event.body, end_of_stream=event.end_of_stream)
            if event.end_of_stream:
                self._finish_stream(cut_outcome=RequestOutcome.UPSTREAM_CUT)
            return Continue(body=replacement) if replacement is not None else Continue()
        if self._json is not None:
            self._json.feed(event.body)
            if event.end_of_stream or self._json.complete:
                self._finish_json()
        return Continue()

    # Envoy may end the side stream without waiting for the reply to its final (often empty)
    # end-of-stream message, so a response is billed as complete as soon as it is known to be: a JSON
    # body at its content-length (or, in `close`, once it parses whole), an SSE stream at `[DONE]`.

    def _finish_json(self) -> None:
        json_body = self._json
        if json_body is None or self._finished:
            return
        usage, document = json_body.finish()
        if document is not None:
            delivered = output_text_tokens(document, self._services.tokens) if usage is None else 0
        else:  # past the cap (its usage, if any, was read from its edges), or not JSON
            delivered = json_body.estimated_tokens if json_body.overflowed else 0
        self._finish_with(RequestOutcome.OK, usage, delivered)
        if self._cache is not None:
            self._cache.complete_json(document)

    def _finish_stream(self, *, cut_outcome: RequestOutcome) -> None:
        sse = self._sse
        if sse is None or self._finished:
            return
        complete = sse.done and not sse.error_event
        self._finish_with(RequestOutcome.OK if complete else cut_outcome, sse.usage, sse.delivered_tokens)
        if self._cache is not None:
            self._cache.complete_stream(done=sse.done, error=sse.error_event)

    async def close(self) -> None:
        """The stream ended: an admitted request not billed yet is billed from what was seen."""
        if self._admission is None or self._finished:
            return
        if self._json is not None and self._json.whole:
            self._finish_json()
            return
        if self._sse is not None and self._sse.done and not self._sse.error_event:
            self._finish_stream(cut_outcome=RequestOutcome.INCOMPLETE)
            return
        delivered = self._sse.delivered_tokens if self._sse is not None else 0
        usage = self._sse.usage if self._sse is not None else None
        _log.info(
            "request %s incomplete (client gone, or upstream cut or stalled) after %d delivered tokens",
            self._request.request_id,
            delivered,
        )
        self._finish_with(RequestOutcome.INCOMPLETE, usage, delivered)

    # -- billing ---------------------------------------------------------------------------------

    def _finish_with(self, outcome: RequestOutcome, usage: Usage | None, delivered_tokens: int) -> None:
        if usage is not None:
            self._finish(
                outcome,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cached_tokens=usage.cached_tokens,
            )
            return
        prompt = self._inference.prompt_tokens if self._inference is not None else 0
        self._finish(outcome, prompt_tokens=prompt, completion_tokens=delivered_tokens, estimated=True)

    def _finish(
        self,
        outcome: RequestOutcome,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cached_tokens: int = 0,
        estimated: bool = False,
        error_code: str = "",
        cache_hit: bool = False,
    ) -> None:
        if self._finished or self._admission is None:
            return
        self._finished = True
        self._services.billing.finish(
            self._admission,
            RequestResult(
                outcome=outcome,
                status_code=self._status,
                finished_at=self._services.clock(),
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cached_tokens=cached_tokens,
                estimated=estimated,
                backend=self._backend,
                error_code=error_code,
                cache_hit=cache_hit,
            ),
        )

    def _reject(self, error: GatewayError) -> NoReturn:
        """Record a refusal of an authenticated caller, then raise it to the client."""
        caller = self._require_caller()
        self._services.billing.reject(
            request_id=self._request.request_id,
            principal=caller.principal,
            model=self._model,
            status_code=error.status,
            error_code=error.code,
            stream=self._stream,
            started_at=self._started_at,
        )
        raise error

    def _require_caller(self) -> Caller:
        if self._caller is None:
            raise RuntimeError("request body before request headers")
        return self._caller


def _content_length(event: HeadersEvent) -> int | None:
    try:
        return int(event.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _status_of(event: HeadersEvent) -> int:
    try:
        return int(event.headers.get(":status", "0"))
    except ValueError:
        return 0

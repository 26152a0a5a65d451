"""POST /v1/chat/completions, /v1/completions and /v1/embeddings: route on the JSON `model`.

Request headers: drop every client-sent `x-tollway-*` header (the gateway owns that namespace).
Request body (BUFFERED, whole): parse once, resolve the model or alias to its canonical name, set
`x-tollway-model` and ask Envoy to pick the route again (`clear_route_cache`). The body itself is not
changed (a body mutation would need a matching `content-length`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import orjson

from control_plane.model import GATEWAY_HEADER_PREFIX, MODEL_HEADER
from ext_proc.errors import (
    BodyRequiredError,
    InvalidJsonError,
    ModelNotFoundError,
    ModelRequiredError,
    RegistryUnavailableError,
)
from ext_proc.exchange import BodyEvent, Continue, HeaderEdit, HeadersEvent, Reply
from ext_proc.model_table import ModelTableHolder
from ext_proc.processor import PassThroughProcessor, RequestInfo

__all__ = [
    "InferenceEndpoint",
    "InferenceProcessor",
    "parse_json_object",
    "requested_model",
]


class InferenceEndpoint(StrEnum):
    """The OpenAI endpoints whose JSON body names a model; the value is the path."""

    CHAT_COMPLETIONS = "/v1/chat/completions"
    COMPLETIONS = "/v1/completions"
    EMBEDDINGS = "/v1/embeddings"


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or InvalidJsonError."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidJsonError() from None
    if not isinstance(document, dict):
        raise InvalidJsonError()
    return document


def requested_model(document: dict[str, Any]) -> str:
    """The non-empty `model` string of a request, or ModelRequiredError."""
    model = document.get("model")
    if not isinstance(model, str) or not model:
        raise ModelRequiredError()
    return model


class InferenceProcessor(PassThroughProcessor):
    """One inference request to `endpoint`."""

    __slots__ = ("_body_parts", "_endpoint", "_request", "_tables")

    def __init__(self, request: RequestInfo, tables: ModelTableHolder, endpoint: InferenceEndpoint) -> None:
        self._request = request
        self._tables = tables
        self._endpoint = endpoint
        self._body_parts: list[bytes] = []

    @property
    def endpoint(self) -> InferenceEndpoint:
        return self._endpoint

    async def request_headers(self, event: HeadersEvent) -> Reply:
        if event.end_of_stream:
            raise BodyRequiredError()
        client_copies = tuple(name for name in event.headers if name.startswith(GATEWAY_HEADER_PREFIX))
        return Continue(HeaderEdit(remove_headers=client_copies)) if client_copies else Continue()

    async def request_body(self, event: BodyEvent) -> Reply:
        if not event.end_of_stream:  # only if the filter is not configured BUFFERED: gather the chunks
            self._body_parts.append(event.body)
            return Continue()
        body = b"".join((*self._body_parts, event.body)) if self._body_parts else event.body
        model = requested_model(parse_json_object(body))
        table = self._tables.current
        if table is None:
            raise RegistryUnavailableError()
        canonical = table.canonical_name(model)
        if canonical is None:
            raise ModelNotFoundError(model)
        return Continue(HeaderEdit(set_headers=((MODEL_HEADER, canonical),)), clear_route_cache=True)

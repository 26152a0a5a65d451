"""GET /v1/models and GET /v1/models/{id}: the models this caller may use, from the model table.

Authenticated like every OpenAI endpoint. Model ids may contain `/` (`meta-llama/Llama-3-8B`), so
everything after `/v1/models/`, URL-decoded, is the id. Aliases are listed and retrievable as models
of their own. A model the caller's plan or key does not allow is neither listed nor retrievable.
"""

from __future__ import annotations

from urllib.parse import unquote

from ext_proc.errors import ModelNotFoundError, RegistryUnavailableError
from ext_proc.exchange import HeadersEvent, Reply, json_reply
from ext_proc.processor import PassThroughProcessor, RequestInfo
from ext_proc.processors.caller import identify, model_allowed
from ext_proc.services import GatewayServices

__all__ = ["MODELS_PATH", "ModelListingProcessor"]

MODELS_PATH = "/v1/models"
_MODEL_PREFIX = MODELS_PATH + "/"


class ModelListingProcessor(PassThroughProcessor):
    """Answers at the request-headers phase; the request never reaches an upstream."""

    __slots__ = ("_request", "_services")

    def __init__(self, request: RequestInfo, services: GatewayServices) -> None:
        self._request = request
        self._services = services

    async def request_headers(self, event: HeadersEvent) -> Reply:
        caller, refusal = await identify(self._services, event)
        if refusal is not None:
            raise refusal
        table = self._services.models.current
        if table is None:
            raise RegistryUnavailableError()
        unrestricted = caller.policy.plan.allowed_models is None and caller.principal.allowed_models is None
        request_id = self._request.request_id
        path = self._request.path
        if path == MODELS_PATH:
            if unrestricted:
                body = table.model_list_body
            else:
                entries = [
                    entry
                    for model_id, entry in table.model_bodies.items()
                    if model_allowed(caller, table.canonical_names[model_id])
                ]
                body = b'{"object":"list","data":[' + b",".join(entries) + b"]}"
            return json_reply(200, body, request_id=request_id, details="tollway_models")
        model_id = unquote(path.removeprefix(_MODEL_PREFIX))
        entry = table.model_bodies.get(model_id)
        if entry is None or not model_allowed(caller, table.canonical_names[model_id]):
            raise ModelNotFoundError(model_id)
        return json_reply(200, entry, request_id=request_id, details="tollway_model")

"""GET /v1/models and GET /v1/models/{id}: answered from the pre-rendered model table.

Model ids may contain `/` (`meta-llama/Llama-3-8B`), so everything after `/v1/models/`, URL-decoded,
is the id. Aliases are listed and retrievable as models of their own.
"""

from __future__ import annotations

from urllib.parse import unquote

from ext_proc.errors import ModelNotFoundError, RegistryUnavailableError
from ext_proc.exchange import HeadersEvent, Reply, json_reply
from ext_proc.model_table import ModelTableHolder
from ext_proc.processor import PassThroughProcessor, RequestInfo

__all__ = ["MODELS_PATH", "ModelListingProcessor"]

MODELS_PATH = "/v1/models"
_MODEL_PREFIX = MODELS_PATH + "/"


class ModelListingProcessor(PassThroughProcessor):
    """Answers at the request-headers phase; the request never reaches an upstream."""

    __slots__ = ("_request", "_tables")

    def __init__(self, request: RequestInfo, tables: ModelTableHolder) -> None:
        self._request = request
        self._tables = tables

    async def request_headers(self, event: HeadersEvent) -> Reply:
        table = self._tables.current
        if table is None:
            raise RegistryUnavailableError()
        path = self._request.path
        if path == MODELS_PATH:
            return json_reply(
                200, table.model_list_body, request_id=self._request.request_id, details="tollway_models"
            )
        model_id = unquote(path.removeprefix(_MODEL_PREFIX))
        body = table.model_bodies.get(model_id)
        if body is None:
            raise ModelNotFoundError(model_id)
        return json_reply(200, body, request_id=self._request.request_id, details="tollway_model")

"""The OpenAI endpoints Tollway serves, one processor per endpoint, registered by (method, path)."""

from __future__ import annotations

from ext_proc.openai_request import InferenceEndpoint
from ext_proc.processor import ProcessorRegistry, RequestInfo
from ext_proc.processors.inference import InferenceProcessor
from ext_proc.processors.model_listing import MODELS_PATH, ModelListingProcessor
from ext_proc.processors.unknown_url import UnknownUrlProcessor
from ext_proc.services import GatewayServices

__all__ = [
    "InferenceEndpoint",
    "InferenceProcessor",
    "ModelListingProcessor",
    "UnknownUrlProcessor",
    "openai_processors",
]


def openai_processors(services: GatewayServices) -> ProcessorRegistry:
    """The registry of every OpenAI endpoint; anything else gets 404 `unknown_url`."""
    registry = ProcessorRegistry(fallback=UnknownUrlProcessor)
    for endpoint in InferenceEndpoint:

        def inference(request: RequestInfo, endpoint: InferenceEndpoint = endpoint) -> InferenceProcessor:
            return InferenceProcessor(request, services, endpoint)

        registry.register("POST", endpoint.value, inference)

    def model_listing(request: RequestInfo) -> ModelListingProcessor:
        return ModelListingProcessor(request, services)

    registry.register("GET", MODELS_PATH, model_listing)
    registry.register_prefix("GET", MODELS_PATH + "/", model_listing)
    return registry

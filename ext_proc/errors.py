"""Every error a client can get from ext_proc, and the one function that turns errors into replies.

    GatewayError                      status, type, code, param, public message
    ├── InvalidRequestError           400 invalid_request_error
    │   ├── BodyRequiredError             code body_required
    │   ├── InvalidJsonError              code invalid_json
    │   └── ModelRequiredError            code model_required, param model
    ├── NotFoundError                 404 invalid_request_error
    │   ├── ModelNotFoundError            code model_not_found, param model
    │   └── UnknownUrlError               code unknown_url
    ├── ServiceUnavailableError       503 server_error
    │   └── RegistryUnavailableError      code registry_unavailable
    └── InternalError                 500 server_error, code internal_error

`error_reply` is the only place that decides what text reaches a client: the message of a
`GatewayError` (written for clients), or a generic sentence for anything else. Exception text from
other exceptions never leaves the process.
"""

from __future__ import annotations

import orjson

from ext_proc.exchange import Immediate, json_reply

__all__ = [
    "BodyRequiredError",
    "GatewayError",
    "InternalError",
    "InvalidJsonError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "ModelRequiredError",
    "NotFoundError",
    "RegistryUnavailableError",
    "ServiceUnavailableError",
    "UnknownUrlError",
    "error_reply",
]

_MAX_ECHOED_CHARS = 256  # client-supplied text echoed in a message is cut to this length


def _echo(text: str) -> str:
    return text if len(text) <= _MAX_ECHOED_CHARS else text[:_MAX_ECHOED_CHARS] + "…"


class GatewayError(Exception):
    """An error the client may see, in OpenAI's shape. `message` is public text, written for clients."""

    status: int = 500
    type: str = "server_error"
    code: str = "internal_error"
    param: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class BodyRequiredError(InvalidRequestError):
    code = "body_required"

    def __init__(self) -> None:
        super().__init__("This endpoint requires a JSON request body.")


class InvalidJsonError(InvalidRequestError):
    code = "invalid_json"

    def __init__(self) -> None:
        super().__init__(
            "We could not parse the JSON body of your request. The body must be a JSON object "
            "(see https://platform.openai.com/docs/api-reference)."
        )


class ModelRequiredError(InvalidRequestError):
    code = "model_required"
    param = "model"

    def __init__(self) -> None:
        super().__init__("You must provide a model parameter.")


class NotFoundError(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"
    param = "model"

    def __init__(self, model: str) -> None:
        super().__init__(f"The model `{_echo(model)}` does not exist or you do not have access to it.")


class UnknownUrlError(NotFoundError):
    code = "unknown_url"

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"Unknown request URL: {_echo(method)} {_echo(path)}.")


class ServiceUnavailableError(GatewayError):
    status = 503
    type = "server_error"
    code = "service_unavailable"


class RegistryUnavailableError(ServiceUnavailableError):
    code = "registry_unavailable"

    def __init__(self) -> None:
        super().__init__("The gateway has not loaded its model registry yet. Please retry shortly.")


class InternalError(GatewayError):
    def __init__(self) -> None:
        super().__init__("The server had an error while processing your request. Please retry.")


def error_reply(error: BaseException, *, request_id: str) -> Immediate:
    """The client-facing reply for any error; only a GatewayError's own message is shown."""
    public = error if isinstance(error, GatewayError) else InternalError()
    body = orjson.dumps(
        {
            "error": {
                "message": public.message,
                "type": public.type,
                "code": public.code,
                "param": public.param,
            }
        }
    )
    return json_reply(public.status, body, request_id=request_id, details=f"tollway_{public.code}")

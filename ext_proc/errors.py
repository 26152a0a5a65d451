"""Every error a client can get from ext_proc, and the one function that turns errors into replies.

    GatewayError                      status, type, code, param, public message
    ├── InvalidRequestError           400 invalid_request_error
    │   ├── BodyRequiredError             code body_required
    │   ├── InvalidJsonError              code invalid_json
    │   ├── ModelRequiredError            code model_required, param model
    │   └── InvalidParameterError         code invalid_parameter, param named
    ├── InvalidApiKeyError            401 invalid_request_error, code invalid_api_key
    ├── PermissionDeniedError         403 code model_not_allowed | tenant_suspended
    ├── RateLimitedError              429 requests | tokens, code rate_limit_exceeded (+ Retry-After)
    ├── InsufficientQuotaError        429 insufficient_quota (budget, daily or monthly tokens spent)
    ├── NotFoundError                 404 invalid_request_error
    │   ├── ModelNotFoundError            code model_not_found, param model
    │   └── UnknownUrlError               code unknown_url
    ├── ServiceUnavailableError       503 server_error
    │   ├── RegistryUnavailableError      code registry_unavailable
    │   ├── AuthUnavailableError          code auth_unavailable (Redis down, key not cached)
    │   └── QuotaUnavailableError         code quota_unavailable (Redis down, fail-closed quotas)
    └── InternalError                 500 server_error, code internal_error

An error may carry extra response headers (Retry-After, x-ratelimit-*). `error_reply` is the only
place that decides what text reaches a client: the message of a `GatewayError` (written for
clients), or a generic sentence for anything else. Exception text from other exceptions never
leaves the process.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from ext_proc.exchange import Immediate, json_reply

__all__ = [
    "AuthUnavailableError",
    "BodyRequiredError",
    "GatewayError",
    "InsufficientQuotaError",
    "InternalError",
    "InvalidApiKeyError",
    "InvalidJsonError",
    "InvalidParameterError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "ModelRequiredError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaUnavailableError",
    "RateLimitedError",
    "RegistryUnavailableError",
    "ServiceUnavailableError",
    "UnknownUrlError",
    "error_reply",
]

_MAX_ECHOED_CHARS = 256  # client-supplied text echoed in a message is cut to this length


def _echo(text: str) -> str:
    return text if len(text) <= _MAX_ECHOED_CHARS else text[:_MAX_ECHOED_CHARS] + "…"


class GatewayError(Exception):
    """An error the client may see, in OpenAI's shape. `message` is public text, written for clients.

    `headers` are extra response headers sent with the error (e.g. `retry-after`, `x-ratelimit-*`).
    """

    status: int = 500
    type: str = "server_error"
    code: str = "internal_error"
    param: str | None = None

    def __init__(self, message: str, *, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


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


class InvalidParameterError(InvalidRequestError):
    """A request parameter has a value the gateway refuses; the message names the parameter."""

    code = "invalid_parameter"

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.param = param


class InvalidApiKeyError(GatewayError):
    """Unknown, expired, revoked or missing key (or an invalid JWT): one message, so nothing leaks."""

    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"

    def __init__(self) -> None:
        super().__init__(
            "Incorrect API key provided. You can find your API key in your gateway account settings."
        )


class PermissionDeniedError(GatewayError):
    """The caller is known but may not do this (`model_not_allowed`, `tenant_suspended`)."""

    status = 403
    type = "permission_denied"
    code = "permission_denied"

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def model_not_allowed(cls, model: str) -> PermissionDeniedError:
        return cls(
            f"Your API key is not allowed to use the model `{_echo(model)}`.", code="model_not_allowed"
        )

    @classmethod
    def tenant_suspended(cls) -> PermissionDeniedError:
        return cls("This account is suspended. Contact your gateway administrator.", code="tenant_suspended")


class RateLimitedError(GatewayError):
    """A per-minute or concurrency limit: retry after `Retry-After` seconds. `type` is requests | tokens."""

    status = 429
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, kind: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message, headers=headers)
        self.type = kind


class InsufficientQuotaError(GatewayError):
    """The monthly budget or the daily/monthly token allowance is used up (OpenAI's wording)."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"

    def __init__(self, *, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(
            "You exceeded your current quota, please check your plan and billing details.", headers=headers
        )


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


class AuthUnavailableError(ServiceUnavailableError):
    code = "auth_unavailable"

    def __init__(self) -> None:
        super().__init__("The gateway cannot verify API keys right now. Please retry shortly.")


class QuotaUnavailableError(ServiceUnavailableError):
    code = "quota_unavailable"

    def __init__(self) -> None:
        super().__init__("The gateway cannot check usage limits right now. Please retry shortly.")


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
    reply = json_reply(public.status, body, request_id=request_id, details=f"tollway_{public.code}")
    if not public.headers:
        return reply
    return replace(reply, headers=reply.headers + public.headers)

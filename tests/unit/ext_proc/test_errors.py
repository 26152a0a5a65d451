"""The error tree and the one mapping from errors to client replies."""

from __future__ import annotations

import orjson
import pytest

from ext_proc.errors import (
    BodyRequiredError,
    GatewayError,
    InternalError,
    InvalidJsonError,
    ModelNotFoundError,
    ModelRequiredError,
    RegistryUnavailableError,
    UnknownUrlError,
    error_reply,
)


@pytest.mark.parametrize(
    ("error", "status", "type_", "code", "param"),
    [
        (BodyRequiredError(), 400, "invalid_request_error", "body_required", None),
        (InvalidJsonError(), 400, "invalid_request_error", "invalid_json", None),
        (ModelRequiredError(), 400, "invalid_request_error", "model_required", "model"),
        (ModelNotFoundError("gpt-9"), 404, "invalid_request_error", "model_not_found", "model"),
        (UnknownUrlError("POST", "/v1/foo"), 404, "invalid_request_error", "unknown_url", None),
        (RegistryUnavailableError(), 503, "server_error", "registry_unavailable", None),
        (InternalError(), 500, "server_error", "internal_error", None),
    ],
)
def test_error_reply_shape(
    error: GatewayError, status: int, type_: str, code: str, param: str | None
) -> None:
    reply = error_reply(error, request_id="rid-42")
    assert reply.status == status
    assert reply.headers == (("content-type", "application/json"), ("x-request-id", "rid-42"))
    assert reply.details == f"tollway_{code}"
    assert orjson.loads(reply.body) == {
        "error": {"message": error.message, "type": type_, "code": code, "param": param}
    }


def test_openai_wording_for_model_not_found_and_unknown_url() -> None:
    assert ModelNotFoundError("x").message == "The model `x` does not exist or you do not have access to it."
    assert UnknownUrlError("POST", "/v1/foo").message == "Unknown request URL: POST /v1/foo."


def test_foreign_exception_text_never_reaches_the_client() -> None:
    reply = error_reply(KeyError("redis://secret@10.0.0.1 password=hunter2"), request_id="r")
    body = orjson.loads(reply.body)
    assert reply.status == 500
    assert body["error"]["code"] == "internal_error"
    assert b"hunter2" not in reply.body
    assert b"KeyError" not in reply.body


def test_client_text_echoed_in_messages_is_bounded() -> None:
    message = ModelNotFoundError("m" * 10_000).message
    assert len(message) < 400
    assert message.startswith("The model `mmm")

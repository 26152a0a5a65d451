"""GET /v1/models, GET /v1/models/{id}, and unknown URLs, driven by real ProcessingRequests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ext_proc.governance.policies import PolicyTableHolder
from ext_proc.model_table import ModelTableHolder
from ext_proc.processors import openai_processors
from ext_proc.server import StreamSession
from ext_proc.services import GatewayServices
from tests.support.governance_fakes import FakeAuthenticator, FakeBilling

JSON_FOR = {"content-type": "application/json"}
LLAMA_ENTRIES = [
    {"id": "meta-llama/Llama-3-8B", "object": "model", "created": 0, "owned_by": "meta"},
    {"id": "llama3", "object": "model", "created": 0, "owned_by": "meta"},
]
MINI_ENTRIES = [
    {"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "tollway"},
    {"id": "mini", "object": "model", "created": 0, "owned_by": "tollway"},
    {"id": "small", "object": "model", "created": 0, "owned_by": "tollway"},
]


async def test_list_models_includes_aliases_as_entries(session: StreamSession, driver) -> None:
    request = driver.request_headers("GET", "/v1/models", end_of_stream=True, request_id="rid-list")
    status, headers, body, details = driver.immediate(await driver.answer(session, request))
    assert status == 200
    assert headers == {**JSON_FOR, "x-request-id": "rid-list"}
    assert details == "tollway_models"
    assert body == {"object": "list", "data": LLAMA_ENTRIES + MINI_ENTRIES}


async def test_list_models_ignores_the_query_string(session: StreamSession, driver) -> None:
    request = driver.request_headers("GET", "/v1/models?limit=1", end_of_stream=True)
    status, _, body, _ = driver.immediate(await driver.answer(session, request))
    assert status == 200
    assert len(body["data"]) == 5


@pytest.mark.parametrize(
    ("path", "model_id", "owned_by"),
    [
        ("/v1/models/gpt-4o-mini", "gpt-4o-mini", "tollway"),
        ("/v1/models/small", "small", "tollway"),
        ("/v1/models/meta-llama/Llama-3-8B", "meta-llama/Llama-3-8B", "meta"),
        ("/v1/models/meta-llama%2FLlama-3-8B", "meta-llama/Llama-3-8B", "meta"),
        ("/v1/models/llama3?x=1", "llama3", "meta"),
    ],
)
async def test_retrieve_model(
    session: StreamSession, driver, path: str, model_id: str, owned_by: str
) -> None:
    request = driver.request_headers("GET", path, end_of_stream=True, request_id="rid-one")
    status, headers, body, details = driver.immediate(await driver.answer(session, request))
    assert status == 200
    assert headers == {**JSON_FOR, "x-request-id": "rid-one"}
    assert body == {"id": model_id, "object": "model", "created": 0, "owned_by": owned_by}
    assert details == "tollway_model"


async def test_retrieve_unknown_model_is_404(session: StreamSession, driver) -> None:
    request = driver.request_headers(
        "GET", "/v1/models/meta-llama/Nope", end_of_stream=True, request_id="rid-x"
    )
    status, headers, body, details = driver.immediate(await driver.answer(session, request))
    assert status == 404
    assert headers == {**JSON_FOR, "x-request-id": "rid-x"}
    assert body == {
        "error": {
            "message": "The model `meta-llama/Nope` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "code": "model_not_found",
            "param": "model",
        }
    }
    assert details == "tollway_model_not_found"


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-4o-mini"])
async def test_models_before_the_first_snapshot_are_503(services: GatewayServices, driver, path: str) -> None:
    empty = replace(services, models=ModelTableHolder(), policies=PolicyTableHolder())
    session = StreamSession(openai_processors(empty))
    request = driver.request_headers("GET", path, end_of_stream=True, request_id="rid-503")
    status, headers, body, _ = driver.immediate(await driver.answer(session, request))
    assert status == 503
    assert headers["x-request-id"] == "rid-503"
    assert body["error"]["code"] == "registry_unavailable"


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-4o-mini"])
@pytest.mark.parametrize("extra", [[], [("authorization", "Bearer tw-nope")], [("x-api-key", "tw-nope")]])
async def test_models_need_a_valid_key(session: StreamSession, driver, path: str, extra: list[Any]) -> None:
    request = driver.request_headers(
        "GET", path, end_of_stream=True, key=None, request_id="rid-k", extra=extra
    )
    status, headers, body, details = driver.immediate(await driver.answer(session, request))
    assert status == 401
    assert headers == {**JSON_FOR, "x-request-id": "rid-k"}
    assert body["error"]["code"] == "invalid_api_key"
    assert details == "tollway_invalid_api_key"


@pytest.mark.parametrize("name", ["api-key", "x-api-key"])
async def test_models_accept_azure_and_anthropic_style_key_headers(
    session: StreamSession, driver, authenticator: FakeAuthenticator, name: str
) -> None:
    request = driver.request_headers(
        "GET", "/v1/models", end_of_stream=True, key=None, extra={name: "tw-acme"}
    )
    status, _, body, _ = driver.immediate(await driver.answer(session, request))
    assert (status, len(body["data"])) == (200, 5)
    assert [seen.get(name) for seen in authenticator.seen] == ["tw-acme"]


async def test_models_when_auth_is_unavailable_are_503(
    session: StreamSession, driver, authenticator: FakeAuthenticator
) -> None:
    authenticator.unavailable = True
    request = driver.request_headers("GET", "/v1/models", end_of_stream=True)
    status, _, body, _ = driver.immediate(await driver.answer(session, request))
    assert (status, body["error"]["code"]) == (503, "auth_unavailable")


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-4o-mini"])
async def test_suspended_tenant_gets_403_for_models(
    session: StreamSession, driver, billing: FakeBilling, path: str
) -> None:
    request = driver.request_headers("GET", path, end_of_stream=True, key="tw-frozen")
    status, _, body, details = driver.immediate(await driver.answer(session, request))
    assert (status, body["error"]["code"], details) == (403, "tenant_suspended", "tollway_tenant_suspended")
    assert billing.finished == []


@pytest.mark.parametrize(
    ("key", "listed"),
    [
        ("tw-limited", MINI_ENTRIES),  # the plan allows gpt-4o-mini only
        ("tw-acme-llama", LLAMA_ENTRIES),  # the key allows meta-llama/Llama-3-8B only
        ("tw-acme", LLAMA_ENTRIES + MINI_ENTRIES),
    ],
)
async def test_list_shows_only_the_models_the_caller_may_use(
    session: StreamSession, driver, key: str, listed: list[dict[str, Any]]
) -> None:
    request = driver.request_headers("GET", "/v1/models", end_of_stream=True, key=key, request_id="rid-l")
    status, headers, body, details = driver.immediate(await driver.answer(session, request))
    assert status == 200
    assert headers == {**JSON_FOR, "x-request-id": "rid-l"}
    assert body == {"object": "list", "data": listed}
    assert details == "tollway_models"


@pytest.mark.parametrize(
    ("key", "model_id", "status"),
    [
        ("tw-limited", "mini", 200),
        ("tw-limited", "gpt-4o-mini", 200),
        ("tw-limited", "llama3", 404),
        ("tw-limited", "meta-llama/Llama-3-8B", 404),
        ("tw-acme-llama", "llama3", 200),
        ("tw-acme-llama", "small", 404),
    ],
)
async def test_retrieving_a_model_the_caller_may_not_use_is_404(
    session: StreamSession, driver, key: str, model_id: str, status: int
) -> None:
    request = driver.request_headers("GET", f"/v1/models/{model_id}", end_of_stream=True, key=key)
    got_status, _, body, _ = driver.immediate(await driver.answer(session, request))
    assert got_status == status
    if status == 200:
        assert body["id"] == model_id
    else:
        assert body["error"] == {
            "message": f"The model `{model_id}` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "code": "model_not_found",
            "param": "model",
        }


@pytest.mark.parametrize(
    ("method", "path", "shown"),
    [
        ("POST", "/v1/foo", "POST /v1/foo"),
        ("POST", "/v1/foo?bar=1", "POST /v1/foo"),
        ("GET", "/v1/chat/completions", "GET /v1/chat/completions"),
        ("POST", "/v1/models", "POST /v1/models"),
        ("DELETE", "/v1/models/gpt-4o-mini", "DELETE /v1/models/gpt-4o-mini"),
        ("GET", "/v1/models/", "GET /v1/models/"),
        ("GET", "/", "GET /"),
    ],
)
async def test_unknown_url_is_404(session: StreamSession, driver, method: str, path: str, shown: str) -> None:
    request = driver.request_headers(method, path, end_of_stream=method == "GET", request_id="rid-404")
    status, headers, body, details = driver.immediate(await driver.answer(session, request))
    assert status == 404
    assert headers == {**JSON_FOR, "x-request-id": "rid-404"}
    assert body == {
        "error": {
            "message": f"Unknown request URL: {shown}.",
            "type": "invalid_request_error",
            "code": "unknown_url",
            "param": None,
        }
    }
    assert details == "tollway_unknown_url"

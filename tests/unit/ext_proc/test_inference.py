"""POST /v1/chat/completions, /v1/completions, /v1/embeddings, driven by real ProcessingRequests."""

from __future__ import annotations

import pytest

from ext_proc.model_table import ModelTableHolder
from ext_proc.processor import RequestInfo
from ext_proc.processors import InferenceEndpoint, InferenceProcessor, openai_processors
from ext_proc.server import StreamSession

ENDPOINTS = [endpoint.value for endpoint in InferenceEndpoint]
OVERWRITE_IF_EXISTS_OR_ADD = 2


def test_every_inference_endpoint_is_registered(tables: ModelTableHolder) -> None:
    assert ENDPOINTS == ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]
    registry = openai_processors(tables)
    for endpoint in InferenceEndpoint:
        processor = registry.create(_info(endpoint.value))
        assert isinstance(processor, InferenceProcessor)
        assert processor.endpoint is endpoint


def _info(path: str) -> RequestInfo:
    return RequestInfo.from_headers({":method": "POST", ":path": path, "x-request-id": "r"})


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_headers_strip_client_gateway_headers(session: StreamSession, driver, path: str) -> None:
    request = driver.request_headers(
        "POST",
        path,
        extra=[
            ("x-tollway-model", "forged"),
            ("x-tollway-tenant", "someone-else"),
            ("x-tollwayish", "not ours"),
            ("authorization", "Bearer k"),
        ],
    )
    response = await driver.answer(session, request)
    assert response.WhichOneof("response") == "request_headers"
    mutation = response.request_headers.response.header_mutation
    assert sorted(mutation.remove_headers) == ["x-tollway-model", "x-tollway-tenant"]
    assert list(mutation.set_headers) == []
    assert response.request_headers.response.clear_route_cache is False


async def test_headers_without_gateway_headers_continue_unchanged(session: StreamSession, driver) -> None:
    response = await driver.answer(session, driver.request_headers("POST", "/v1/embeddings"))
    assert response.WhichOneof("response") == "request_headers"
    assert response.request_headers.ListFields() == []


@pytest.mark.parametrize(
    ("model", "canonical"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("small", "gpt-4o-mini"),
        ("llama3", "meta-llama/Llama-3-8B"),
        ("meta-llama/Llama-3-8B", "meta-llama/Llama-3-8B"),
    ],
)
async def test_body_sets_canonical_model_and_clears_route_cache(
    session: StreamSession, driver, model: str, canonical: str
) -> None:
    await driver.answer(session, driver.request_headers("POST", "/v1/chat/completions"))
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = await driver.answer(session, driver.request_body(body))
    assert response.WhichOneof("response") == "request_body"
    common = response.request_body.response
    assert common.clear_route_cache is True
    assert driver.set_headers(common.header_mutation) == {
        "x-tollway-model": (canonical, OVERWRITE_IF_EXISTS_OR_ADD)
    }
    assert list(common.header_mutation.remove_headers) == []
    assert not common.HasField("body_mutation")  # the body is never changed here


async def test_no_body_is_400(session: StreamSession, driver) -> None:
    response = await driver.answer(
        session,
        driver.request_headers("POST", "/v1/chat/completions", end_of_stream=True, request_id="rid-nobody"),
    )
    status, headers, body, details = driver.immediate(response)
    assert status == 400
    assert headers == {"content-type": "application/json", "x-request-id": "rid-nobody"}
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "body_required"
    assert details == "tollway_body_required"


@pytest.mark.parametrize(
    ("raw_body", "status", "code", "param"),
    [
        (b"not json", 400, "invalid_json", None),
        (b"", 400, "invalid_json", None),
        (b"[1, 2]", 400, "invalid_json", None),
        (b'"model"', 400, "invalid_json", None),
        (b'{"model": "gpt-4o-mini"', 400, "invalid_json", None),
        (b"{}", 400, "model_required", "model"),
        (b'{"model": ""}', 400, "model_required", "model"),
        (b'{"model": null}', 400, "model_required", "model"),
        (b'{"model": 4}', 400, "model_required", "model"),
        (b'{"model": ["gpt-4o-mini"]}', 400, "model_required", "model"),
        (b'{"model": "gpt-9"}', 404, "model_not_found", "model"),
        (b'{"model": "GPT-4O-MINI"}', 404, "model_not_found", "model"),
    ],
)
async def test_body_errors(
    session: StreamSession, driver, raw_body: bytes, status: int, code: str, param: str | None
) -> None:
    await driver.answer(session, driver.request_headers("POST", "/v1/completions", request_id="rid-7"))
    response = await driver.answer(session, driver.request_body(raw_body))
    got_status, headers, body, details = driver.immediate(response)
    assert got_status == status
    assert headers == {"content-type": "application/json", "x-request-id": "rid-7"}
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == code
    assert body["error"]["param"] == param
    assert details == f"tollway_{code}"


async def test_unknown_model_uses_openai_wording(session: StreamSession, driver) -> None:
    await driver.answer(session, driver.request_headers("POST", "/v1/embeddings"))
    response = await driver.answer(session, driver.request_body({"model": "gpt-9", "input": "x"}))
    _, _, body, _ = driver.immediate(response)
    assert body == {
        "error": {
            "message": "The model `gpt-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "code": "model_not_found",
            "param": "model",
        }
    }


async def test_before_the_first_snapshot_models_are_503(driver) -> None:
    session = StreamSession(openai_processors(ModelTableHolder()))
    await driver.answer(
        session, driver.request_headers("POST", "/v1/chat/completions", request_id="rid-early")
    )
    response = await driver.answer(session, driver.request_body({"model": "gpt-4o-mini"}))
    status, headers, body, _ = driver.immediate(response)
    assert status == 503
    assert headers["x-request-id"] == "rid-early"
    assert body["error"]["code"] == "registry_unavailable"
    assert body["error"]["type"] == "server_error"


async def test_chunked_body_is_gathered_until_end_of_stream(session: StreamSession, driver) -> None:
    await driver.answer(session, driver.request_headers("POST", "/v1/chat/completions"))
    first = await driver.answer(session, driver.request_body(b'{"model": "mi', end_of_stream=False))
    assert first.WhichOneof("response") == "request_body"
    assert first.request_body.ListFields() == []
    last = await driver.answer(session, driver.request_body(b'ni", "messages": []}', end_of_stream=True))
    assert (
        driver.set_headers(last.request_body.response.header_mutation)["x-tollway-model"][0] == "gpt-4o-mini"
    )


async def test_table_swap_is_seen_by_the_next_request(
    tables: ModelTableHolder, session: StreamSession, driver, snapshots
) -> None:
    tables.load(snapshots(8, ("gpt-5", "mini")))
    await driver.answer(session, driver.request_headers("POST", "/v1/chat/completions"))
    response = await driver.answer(session, driver.request_body({"model": "mini"}))
    assert driver.set_headers(response.request_body.response.header_mutation)["x-tollway-model"][0] == "gpt-5"

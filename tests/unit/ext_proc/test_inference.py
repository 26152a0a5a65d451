"""POST /v1/chat/completions, /v1/completions, /v1/embeddings, request phases, driven by real
ProcessingRequests: authentication, refusals (each with its one ledger record), admission, body rewrite."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest

from ext_proc.errors import GatewayError, InsufficientQuotaError, QuotaUnavailableError, RateLimitedError
from ext_proc.governance.contracts import AdmissionRequest
from ext_proc.governance.policies import PolicyTableHolder
from ext_proc.model_table import ModelTableHolder
from ext_proc.processor import RequestInfo
from ext_proc.processors import InferenceEndpoint, InferenceProcessor, openai_processors
from ext_proc.server import StreamSession
from ext_proc.services import GatewayServices
from tests.support.governance_fakes import FakeAuthenticator, FakeBilling, FakeGate, Rejection

ENDPOINTS = [endpoint.value for endpoint in InferenceEndpoint]
OVERWRITE_IF_EXISTS_OR_ADD = 2
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
HI = [{"role": "user", "content": "hi"}]
HI_TOKENS = 8  # reply priming 3 + message 3 + "user" 1 + "hi" 1
JSON_FOR = {"content-type": "application/json"}
INVALID_KEY_BODY = {
    "error": {
        "message": "Incorrect API key provided. You can find your API key in your gateway account settings.",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
        "param": None,
    }
}


def test_every_inference_endpoint_is_registered(services: GatewayServices) -> None:
    assert ENDPOINTS == ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]
    registry = openai_processors(services)
    for endpoint in InferenceEndpoint:
        processor = registry.create(_info(endpoint.value))
        assert isinstance(processor, InferenceProcessor)
        assert processor.endpoint is endpoint


def _info(path: str) -> RequestInfo:
    return RequestInfo.from_headers({":method": "POST", ":path": path, "x-request-id": "r"})


def _rejection(
    services: GatewayServices, key: str, model: str, status: int, code: str, **kw: Any
) -> Rejection:
    authenticator = services.authenticator
    assert isinstance(authenticator, FakeAuthenticator)
    values: dict[str, Any] = {"request_id": "req-1", "stream": False, "started_at": services.clock()} | kw
    return Rejection(
        principal=authenticator.keys[key], model=model, status_code=status, error_code=code, **values
    )


async def _send_body(
    session: StreamSession, driver, body: bytes | dict[str, Any], *, path: str = CHAT, key: str = "tw-acme"
) -> Any:
    headers_reply = await driver.answer(session, driver.request_headers("POST", path, key=key))
    assert headers_reply.WhichOneof("response") == "request_headers"
    return await driver.answer(session, driver.request_body(body))


# -- request headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_headers_strip_client_gateway_headers(session: StreamSession, driver, path: str) -> None:
    request = driver.request_headers(
        "POST",
        path,
        extra=[
            ("x-tollway-model", "forged"),
            ("x-tollway-tenant", "someone-else"),
            ("x-tollwayish", "not ours"),
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
    "extra",
    [
        [],
        [("authorization", "Bearer tw-nope")],
        [("authorization", "Bearer ")],
        [("authorization", "Basic tw-acme")],
        [("authorization", "Bearer tw-ghost")],  # its tenant is not in the registry
        [("x-api-key", "tw-nope")],
    ],
)
@pytest.mark.parametrize("path", ENDPOINTS)
async def test_missing_or_unknown_key_is_401_without_a_record(
    session: StreamSession, driver, billing: FakeBilling, gate: FakeGate, path: str, extra: list[Any]
) -> None:
    request = driver.request_headers("POST", path, key=None, request_id="rid-401", extra=extra)
    status, headers, body, details = driver.immediate(await driver.answer(session, request))
    assert status == 401
    assert headers == {**JSON_FOR, "x-request-id": "rid-401"}
    assert body == INVALID_KEY_BODY
    assert details == "tollway_invalid_api_key"
    await session.close()
    assert (billing.finished, billing.rejected, gate.requests) == ([], [], [])


async def test_auth_unavailable_is_503_without_a_record(
    session: StreamSession, driver, authenticator: FakeAuthenticator, billing: FakeBilling
) -> None:
    authenticator.unavailable = True
    request = driver.request_headers("POST", CHAT, request_id="rid-503")
    status, headers, body, details = driver.immediate(await driver.answer(session, request))
    assert status == 503
    assert headers == {**JSON_FOR, "x-request-id": "rid-503"}
    assert body == {
        "error": {
            "message": "The gateway cannot verify API keys right now. Please retry shortly.",
            "type": "server_error",
            "code": "auth_unavailable",
            "param": None,
        }
    }
    assert details == "tollway_auth_unavailable"
    assert (billing.finished, billing.rejected) == ([], [])


@pytest.mark.parametrize("name", ["api-key", "x-api-key"])
async def test_api_key_headers_reach_the_authenticator(
    session: StreamSession, driver, authenticator: FakeAuthenticator, gate: FakeGate, name: str
) -> None:
    request = driver.request_headers("POST", CHAT, key=None, extra={name: "tw-limited"})
    assert (await driver.answer(session, request)).WhichOneof("response") == "request_headers"
    assert len(authenticator.seen) == 1
    assert authenticator.seen[0][name] == "tw-limited"
    assert "authorization" not in authenticator.seen[0]
    await driver.answer(session, driver.request_body({"model": "mini", "messages": HI}))
    assert [request.principal.tenant for request in gate.requests] == ["limited"]


async def test_suspended_tenant_is_403_with_one_reject_record(
    session: StreamSession, driver, services: GatewayServices, billing: FakeBilling, gate: FakeGate
) -> None:
    request = driver.request_headers("POST", CHAT, key="tw-frozen")
    status, headers, body, details = driver.immediate(await driver.answer(session, request))
    assert status == 403
    assert headers == {**JSON_FOR, "x-request-id": "req-1"}
    assert body == {
        "error": {
            "message": "This account is suspended. Contact your gateway administrator.",
            "type": "permission_denied",
            "code": "tenant_suspended",
            "param": None,
        }
    }
    assert details == "tollway_tenant_suspended"
    await session.close()
    assert billing.rejected == [_rejection(services, "tw-frozen", "", 403, "tenant_suspended")]
    assert (billing.finished, gate.requests) == ([], [])


async def test_no_body_is_400_with_one_reject_record(
    session: StreamSession, driver, services: GatewayServices, billing: FakeBilling
) -> None:
    response = await driver.answer(
        session, driver.request_headers("POST", CHAT, end_of_stream=True, request_id="rid-nobody")
    )
    status, headers, body, details = driver.immediate(response)
    assert status == 400
    assert headers == {**JSON_FOR, "x-request-id": "rid-nobody"}
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "body_required"
    assert details == "tollway_body_required"
    assert billing.rejected == [
        _rejection(services, "tw-acme", "", 400, "body_required", request_id="rid-nobody")
    ]


# -- request body: refusals ----------------------------------------------------------------------------


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
async def test_body_errors_are_refused_with_one_reject_record(
    session: StreamSession,
    driver,
    services: GatewayServices,
    billing: FakeBilling,
    gate: FakeGate,
    raw_body: bytes,
    status: int,
    code: str,
    param: str | None,
) -> None:
    await driver.answer(session, driver.request_headers("POST", "/v1/completions", request_id="rid-7"))
    response = await driver.answer(session, driver.request_body(raw_body))
    got_status, headers, body, details = driver.immediate(response)
    assert got_status == status
    assert headers == {**JSON_FOR, "x-request-id": "rid-7"}
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == code
    assert body["error"]["param"] == param
    assert details == f"tollway_{code}"
    await session.close()
    assert billing.rejected == [_rejection(services, "tw-acme", "", status, code, request_id="rid-7")]
    assert (billing.finished, gate.requests) == ([], [])


async def test_unknown_model_uses_openai_wording(session: StreamSession, driver) -> None:
    response = await _send_body(session, driver, {"model": "gpt-9", "input": "x"}, path="/v1/embeddings")
    _, _, body, _ = driver.immediate(response)
    assert body == {
        "error": {
            "message": "The model `gpt-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "code": "model_not_found",
            "param": "model",
        }
    }


@pytest.mark.parametrize(
    ("key", "model", "canonical"),
    [
        ("tw-limited", "llama3", "meta-llama/Llama-3-8B"),  # not in the plan's allow-list
        ("tw-limited", "meta-llama/Llama-3-8B", "meta-llama/Llama-3-8B"),
        ("tw-acme-llama", "mini", "gpt-4o-mini"),  # not in the key's allow-list
    ],
)
async def test_model_not_allowed_is_403_with_one_reject_record(
    session: StreamSession,
    driver,
    services: GatewayServices,
    billing: FakeBilling,
    gate: FakeGate,
    key: str,
    model: str,
    canonical: str,
) -> None:
    response = await _send_body(session, driver, {"model": model, "messages": HI}, key=key)
    status, headers, body, details = driver.immediate(response)
    assert status == 403
    assert headers == {**JSON_FOR, "x-request-id": "req-1"}
    assert body == {
        "error": {
            "message": f"Your API key is not allowed to use the model `{model}`.",
            "type": "permission_denied",
            "code": "model_not_allowed",
            "param": None,
        }
    }
    assert details == "tollway_model_not_allowed"
    await session.close()
    assert billing.rejected == [_rejection(services, key, canonical, 403, "model_not_allowed")]
    assert (billing.finished, gate.requests) == ([], [])


@pytest.mark.parametrize(
    ("key", "body", "code"),
    [
        ("tw-limited", {"model": "llama3", "messages": HI, "stream": True}, "model_not_allowed"),
        (
            "tw-limited",
            {"model": "mini", "messages": HI, "stream": True, "max_tokens": 101},
            "invalid_parameter",
        ),
    ],
)
async def test_reject_record_of_a_streaming_request_says_stream(
    session: StreamSession, driver, billing: FakeBilling, key: str, body: dict[str, Any], code: str
) -> None:
    await _send_body(session, driver, body, key=key)
    assert [(rejection.error_code, rejection.stream) for rejection in billing.rejected] == [(code, True)]


async def test_too_large_max_tokens_is_400_with_one_reject_record(
    session: StreamSession, driver, services: GatewayServices, billing: FakeBilling, gate: FakeGate
) -> None:
    response = await _send_body(
        session, driver, {"model": "mini", "messages": HI, "max_tokens": 101}, key="tw-limited"
    )
    status, _, body, _ = driver.immediate(response)
    assert status == 400
    assert body == {
        "error": {
            "message": "`max_tokens` is too large: 101. This key's plan allows at most 100 output tokens "
            "per request.",
            "type": "invalid_request_error",
            "code": "invalid_parameter",
            "param": "max_tokens",
        }
    }
    assert billing.rejected == [_rejection(services, "tw-limited", "gpt-4o-mini", 400, "invalid_parameter")]
    assert gate.requests == []


async def test_before_the_first_snapshot_requests_are_503(
    services: GatewayServices, driver, billing: FakeBilling
) -> None:
    empty = replace(services, models=ModelTableHolder(), policies=PolicyTableHolder())
    session = StreamSession(openai_processors(empty))
    response = await driver.answer(session, driver.request_headers("POST", CHAT, request_id="rid-early"))
    status, headers, body, _ = driver.immediate(response)
    assert status == 503
    assert headers["x-request-id"] == "rid-early"
    assert body["error"]["code"] == "registry_unavailable"
    assert body["error"]["type"] == "server_error"
    assert (billing.finished, billing.rejected) == ([], [])


@pytest.mark.parametrize(
    ("refusal", "status", "extra_headers", "type_", "code"),
    [
        (
            RateLimitedError(
                "Rate limit reached for requests.",
                kind="requests",
                headers=(("retry-after", "7"), ("x-ratelimit-remaining-requests", "0")),
            ),
            429,
            {"retry-after": "7", "x-ratelimit-remaining-requests": "0"},
            "requests",
            "rate_limit_exceeded",
        ),
        (
            InsufficientQuotaError(headers=(("retry-after", "3600"),)),
            429,
            {"retry-after": "3600"},
            "insufficient_quota",
            "insufficient_quota",
        ),
        (QuotaUnavailableError(), 503, {}, "server_error", "quota_unavailable"),
    ],
)
async def test_gate_refusal_is_its_error_and_no_billing_record(
    session: StreamSession,
    driver,
    gate: FakeGate,
    billing: FakeBilling,
    refusal: GatewayError,
    status: int,
    extra_headers: dict[str, str],
    type_: str,
    code: str,
) -> None:
    gate.refusal = refusal
    response = await _send_body(session, driver, {"model": "mini", "messages": HI})
    got_status, headers, body, details = driver.immediate(response)
    assert got_status == status
    assert headers == {**JSON_FOR, "x-request-id": "req-1", **extra_headers}
    assert body == {"error": {"message": refusal.message, "type": type_, "code": code, "param": None}}
    assert details == f"tollway_{code}"
    assert len(gate.requests) == 1
    await session.close()
    # The gate records its own refusals; the processor adds nothing, not even when the stream closes.
    assert (billing.finished, billing.rejected) == ([], [])


# -- request body: admission ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "canonical"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("small", "gpt-4o-mini"),
        ("llama3", "meta-llama/Llama-3-8B"),
        ("meta-llama/Llama-3-8B", "meta-llama/Llama-3-8B"),
    ],
)
async def test_body_sets_canonical_model_and_tenant_and_clears_route_cache(
    session: StreamSession, driver, model: str, canonical: str
) -> None:
    response = await _send_body(session, driver, {"model": model, "messages": HI})
    assert response.WhichOneof("response") == "request_body"
    common = response.request_body.response
    assert common.clear_route_cache is True
    assert driver.set_headers(common.header_mutation) == {
        "x-tollway-model": (canonical, OVERWRITE_IF_EXISTS_OR_ADD),
        "x-tollway-tenant": ("acme", OVERWRITE_IF_EXISTS_OR_ADD),
    }
    assert list(common.header_mutation.remove_headers) == []
    assert not common.HasField("body_mutation")  # nothing to add: the client's body goes upstream


def _chat(model: str = "mini", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": HI, **fields}


def _prompt(prompt: object, **fields: Any) -> dict[str, Any]:
    return {"model": "small", "prompt": prompt, **fields}


MINI, LLAMA = "gpt-4o-mini", "meta-llama/Llama-3-8B"


@pytest.mark.parametrize(
    ("key", "path", "body", "canonical", "stream", "prompt_tokens", "reserved"),
    [
        ("tw-acme", CHAT, _chat(), MINI, False, HI_TOKENS, 200),
        ("tw-acme", CHAT, _chat(max_tokens=40), MINI, False, HI_TOKENS, 40),
        ("tw-acme", CHAT, _chat(max_tokens=40, n=3), MINI, False, HI_TOKENS, 120),
        ("tw-acme", CHAT, _chat(max_completion_tokens=900), MINI, False, HI_TOKENS, 200),
        ("tw-acme", CHAT, _chat("llama3", stream=True), LLAMA, True, HI_TOKENS, 200),
        ("tw-acme", COMPLETIONS, _prompt("Hello world", stream=True), MINI, True, 2, 200),
        ("tw-acme", COMPLETIONS, _prompt([1, 2, 3, 4, 5]), MINI, False, 5, 200),
        ("tw-acme", "/v1/embeddings", {"model": "mini", "input": ["Hello world", "hi"]}, MINI, False, 3, 0),
        ("tw-limited", CHAT, _chat(), MINI, False, HI_TOKENS, 64),  # max_tokens 100 injected, reserve 64
        ("tw-limited", CHAT, _chat(max_tokens=30), MINI, False, HI_TOKENS, 30),
        ("tw-acme-llama", CHAT, _chat("llama3"), LLAMA, False, HI_TOKENS, 200),
    ],
)  # fmt: skip
async def test_admission_request_fields(
    session: StreamSession,
    driver,
    gate: FakeGate,
    billing: FakeBilling,
    policies: PolicyTableHolder,
    authenticator: FakeAuthenticator,
    clock,
    key: str,
    path: str,
    body: dict[str, Any],
    canonical: str,
    stream: bool,
    prompt_tokens: int,
    reserved: int,
) -> None:
    started = clock()
    response = await driver.answer(
        session, driver.request_headers("POST", path, key=key, request_id="rid-adm")
    )
    clock.advance(2)  # the request starts at its headers
    response = await driver.answer(session, driver.request_body(body))
    assert response.request_body.response.clear_route_cache is True
    table = policies.current
    assert table is not None
    principal = authenticator.keys[key]
    assert gate.requests == [
        AdmissionRequest(
            request_id="rid-adm",
            principal=principal,
            policy=table.policy(principal.tenant),
            model=canonical,
            stream=stream,
            prompt_tokens=prompt_tokens,
            reserved_output_tokens=reserved,
            started_at=started,
        )
    ]
    headers = driver.set_headers(response.request_body.response.header_mutation, with_action=False)
    assert headers["x-tollway-model"] == canonical
    assert headers["x-tollway-tenant"] == principal.tenant
    assert (billing.finished, billing.rejected) == ([], [])


# -- request body: what goes upstream ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "body", "upstream"),
    [
        (
            "tw-acme",
            {"model": "mini", "messages": HI, "stream": True},
            b'{"model":"mini","messages":[{"role":"user","content":"hi"}],"stream":true,'
            b'"stream_options":{"include_usage":true}}',
        ),
        (
            "tw-acme",
            {"model": "mini", "messages": HI, "stream": True, "stream_options": {"include_usage": False}},
            b'{"model":"mini","messages":[{"role":"user","content":"hi"}],"stream":true,'
            b'"stream_options":{"include_usage":true}}',
        ),
        (
            "tw-limited",
            {"model": "mini", "messages": HI, "stream": True},
            b'{"model":"mini","messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":100,'
            b'"stream_options":{"include_usage":true}}',
        ),
        (
            "tw-limited",
            {"model": "mini", "messages": HI},
            b'{"model":"mini","messages":[{"role":"user","content":"hi"}],"max_tokens":100}',
        ),
        (
            "tw-limited",
            {"model": "mini", "prompt": "hi", "max_completion_tokens": None},
            b'{"model":"mini","prompt":"hi","max_completion_tokens":100}',
        ),
    ],
)
async def test_body_is_rewritten_with_a_matching_content_length(
    session: StreamSession, driver, key: str, body: dict[str, Any], upstream: bytes
) -> None:
    path = "/v1/completions" if "prompt" in body else CHAT
    response = await _send_body(session, driver, body, key=key, path=path)
    common = response.request_body.response
    assert common.body_mutation.body == upstream
    headers = driver.set_headers(common.header_mutation, with_action=False)
    assert headers["content-length"] == str(len(upstream))
    streamed = {"x-tollway-stream"} if body.get("stream") else set()
    assert set(headers) == {"x-tollway-model", "x-tollway-tenant", "content-length", *streamed}
    assert headers.get("x-tollway-stream", "1") == "1"
    assert orjson.loads(upstream)["model"] == body["model"]


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("tw-acme", _chat(stream=True, stream_options={"include_usage": True})),
        ("tw-acme", _chat(stream=False)),
        ("tw-limited", _chat(max_tokens=100)),
        ("tw-limited", _chat(max_completion_tokens=1, stream=True, stream_options={"include_usage": True})),
    ],
)  # fmt: skip
async def test_body_needing_nothing_is_not_rewritten(
    session: StreamSession, driver, key: str, body: dict[str, Any]
) -> None:
    common = (await _send_body(session, driver, body, key=key)).request_body.response
    assert not common.HasField("body_mutation")
    assert "content-length" not in driver.set_headers(common.header_mutation)


async def test_chunked_body_is_gathered_until_end_of_stream(
    session: StreamSession, driver, gate: FakeGate
) -> None:
    await driver.answer(session, driver.request_headers("POST", CHAT))
    first = await driver.answer(session, driver.request_body(b'{"model": "mi', end_of_stream=False))
    assert first.WhichOneof("response") == "request_body"
    assert first.request_body.ListFields() == []
    assert gate.requests == []
    last = await driver.answer(session, driver.request_body(b'ni", "messages": []}', end_of_stream=True))
    assert (
        driver.set_headers(last.request_body.response.header_mutation)["x-tollway-model"][0] == "gpt-4o-mini"
    )
    assert [request.prompt_tokens for request in gate.requests] == [3]


async def test_table_swap_is_seen_by_the_next_request(
    tables: ModelTableHolder, session: StreamSession, driver, snapshots
) -> None:
    tables.load(snapshots(8, ("gpt-5", "mini")))
    response = await _send_body(session, driver, {"model": "mini"})
    assert driver.set_headers(response.request_body.response.header_mutation)["x-tollway-model"][0] == "gpt-5"

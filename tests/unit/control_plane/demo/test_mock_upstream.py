"""The mock OpenAI upstream, served for real by uvicorn on a free port and driven with the `openai` SDK."""

from __future__ import annotations

import base64
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest

from control_plane.demo.mock_upstream import (
    BACKEND_HEADER,
    MockHeader,
    MockUpstreamSettings,
    build_server,
)
from control_plane.demo.mock_upstream.__main__ import parse_settings

NAME = "unit-a"
MESSAGES: list[Any] = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hello mock world"},
]
ECHO = f"[{NAME}] echo: hello mock world"


@contextmanager
def serving(settings: MockUpstreamSettings) -> Iterator[str]:
    """Run the mock in a thread on a real socket; yield its base URL (`http://127.0.0.1:<port>`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = build_server(settings)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not server.started:
            assert time.monotonic() < deadline, "mock upstream did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serving(MockUpstreamSettings(name=NAME, models=["alpha", "beta"])) as url:
        yield url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=5) as client:
        assert client.post("/mock/reset").status_code == 200
        yield client


@pytest.fixture
def client(base_url: str, http: httpx.Client) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="x", max_retries=0, timeout=5) as sdk:
        yield sdk


def stream_chat(client: openai.OpenAI, headers: dict[str, str] | None = None, **kwargs: Any) -> list[Any]:
    stream = client.chat.completions.create(
        model="alpha", messages=MESSAGES, stream=True, extra_headers=headers, **kwargs
    )
    with stream:
        return list(stream)


def drain(reply: httpx.Response, into: bytearray) -> None:
    for data in reply.iter_bytes():
        into.extend(data)


def test_chat_reply_has_echo_usage_and_backend_header(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="alpha", messages=MESSAGES)
    reply = raw.parse()

    assert raw.headers[BACKEND_HEADER] == NAME
    assert reply.id.startswith("chatcmpl-")
    assert reply.object == "chat.completion"
    assert reply.model == "alpha"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == ECHO
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (5, 5, 10)


def test_max_tokens_truncates_with_finish_reason_length(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="alpha", messages=MESSAGES, max_tokens=2)

    assert reply.choices[0].message.content == f"[{NAME}] echo:"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 2


def test_stream_with_include_usage_ends_with_a_usage_chunk(client: openai.OpenAI) -> None:
    chunks = stream_chat(client, stream_options={"include_usage": True})

    assert len(chunks) == 1 + 5 + 1 + 1
    assert {chunk.id for chunk in chunks} == {chunks[0].id}
    assert chunks[0].id.startswith("chatcmpl-")
    assert all(chunk.object == "chat.completion.chunk" and chunk.model == "alpha" for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    content = [chunk.choices[0].delta.content for chunk in chunks[1:6]]
    assert content == [f"[{NAME}]", " echo:", " hello", " mock", " world"]
    assert "".join(content) == ECHO
    finish = chunks[6].choices[0]
    assert finish.finish_reason == "stop"
    assert finish.delta.content is None
    assert finish.delta.role is None
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 5)
    assert chunks[-1].usage.total_tokens == 10


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI, http: httpx.Client) -> None:
    chunks = stream_chat(client)

    assert len(chunks) == 7
    assert all(chunk.usage is None and len(chunk.choices) == 1 for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    body = {"model": "alpha", "messages": MESSAGES, "stream": True}
    raw = http.post("/v1/chat/completions", json=body)
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.endswith("data: [DONE]\n\n")
    assert raw.text.count("data: ") == 8
    assert '"usage"' not in raw.text


def test_injected_status_with_retry_after(client: openai.OpenAI) -> None:
    headers: dict[str, str] = {MockHeader.STATUS: "429", MockHeader.RETRY_AFTER: "2"}
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="alpha", messages=MESSAGES, extra_headers=headers)

    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.response.headers[BACKEND_HEADER] == NAME
    assert caught.value.code == "mock_injected_failure"
    assert caught.value.type == "rate_limit_error"


def test_fail_times_fails_the_first_n_requests_of_a_key(client: openai.OpenAI, http: httpx.Client) -> None:
    headers: dict[str, str] = {
        MockHeader.STATUS: "503",
        MockHeader.FAIL_TIMES: "2",
        MockHeader.FAIL_KEY: "fail-times-test",
    }
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="alpha", messages=MESSAGES, extra_headers=headers)
        assert caught.value.status_code == 503
    other_key: dict[str, str] = {**headers, MockHeader.FAIL_KEY: "another-key"}
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="alpha", messages=MESSAGES, extra_headers=other_key)

    for _ in range(2):
        reply = client.chat.completions.create(model="alpha", messages=MESSAGES, extra_headers=headers)
        assert reply.choices[0].message.content == ECHO
    assert http.get("/mock/stats").json()["failures_injected"] == 3


def test_cut_after_breaks_the_sdk_stream(client: openai.OpenAI, http: httpx.Client) -> None:
    received: list[str | None] = []
    stream = client.chat.completions.create(
        model="alpha", messages=MESSAGES, stream=True, extra_headers={MockHeader.CUT_AFTER: "2"}
    )
    with stream, pytest.raises(openai.APIConnectionError):
        received.extend(chunk.choices[0].delta.content for chunk in stream)

    assert received == ["", f"[{NAME}]", " echo:"]
    assert http.get("/mock/stats").json()["streams"]["cut"] == 1


def test_cut_after_leaves_an_incomplete_chunked_body(http: httpx.Client) -> None:
    body = {"model": "alpha", "messages": MESSAGES, "stream": True}
    seen = bytearray()
    with http.stream(
        "POST", "/v1/chat/completions", json=body, headers={MockHeader.CUT_AFTER.value: "1"}
    ) as reply:
        assert reply.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            drain(reply, seen)

    assert seen.count(b"data: ") == 2  # the role chunk and one content chunk
    assert b"[DONE]" not in seen
    assert b'"finish_reason":"stop"' not in seen


def test_cut_after_on_a_plain_reply_truncates_the_body(client: openai.OpenAI, http: httpx.Client) -> None:
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(
            model="alpha", messages=MESSAGES, extra_headers={MockHeader.CUT_AFTER: "0"}
        )
    body = {"model": "alpha", "messages": MESSAGES}
    with pytest.raises(httpx.RemoteProtocolError, match="expected"):
        http.post("/v1/chat/completions", json=body, headers={MockHeader.CUT_AFTER.value: "0"})


def test_stall_after_times_the_client_out(base_url: str, http: httpx.Client) -> None:
    received: list[str | None] = []
    started = time.monotonic()
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="x", max_retries=0, timeout=0.4) as impatient:
        stream = impatient.chat.completions.create(
            model="alpha", messages=MESSAGES, stream=True, extra_headers={MockHeader.STALL_AFTER: "1"}
        )
        with stream, pytest.raises(openai.APITimeoutError):
            received.extend(chunk.choices[0].delta.content for chunk in stream)

    assert 0.4 <= time.monotonic() - started < 3
    assert received == ["", f"[{NAME}]"]
    streams = http.get("/mock/stats").json()["streams"]
    assert (streams["started"], streams["stalled"], streams["completed"]) == (1, 1, 0)


def test_tokens_header_sets_the_number_of_chunks(client: openai.OpenAI) -> None:
    chunks = stream_chat(client, {MockHeader.TOKENS: "50"}, stream_options={"include_usage": True})

    content = [
        chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content
    ]
    assert len(content) == 50
    assert content[:6] == [f"[{NAME}]", " echo:", " hello", " mock", " world", f" [{NAME}]"]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 50


def test_first_token_and_inter_token_delays(client: openai.OpenAI) -> None:
    headers: dict[str, str] = {MockHeader.FIRST_TOKEN_DELAY_MS: "250", MockHeader.INTER_TOKEN_DELAY_MS: "40"}
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="alpha", messages=MESSAGES, stream=True, extra_headers=headers
    )
    with stream:
        arrivals = [time.monotonic() - started for chunk in stream if chunk.choices[0].delta.content]

    assert len(arrivals) == 5
    assert arrivals[0] >= 0.25
    assert arrivals[-1] - arrivals[0] >= 4 * 0.04 - 0.01  # gaps seen by the client may shrink a little

    started = time.monotonic()
    client.chat.completions.create(model="alpha", messages=MESSAGES, extra_headers=headers)
    assert time.monotonic() - started >= 0.25 + 4 * 0.04


def test_stats_count_requests_and_streams_until_reset(client: openai.OpenAI, http: httpx.Client) -> None:
    client.chat.completions.create(model="alpha", messages=MESSAGES)
    stream_chat(client)
    stream_chat(client)
    client.embeddings.create(model="alpha", input="x")

    stats = http.get("/mock/stats").json()
    assert stats["name"] == NAME
    assert stats["requests"] == {"/v1/chat/completions": 3, "/v1/embeddings": 1}
    assert stats["streams"] == {"started": 2, "completed": 2, "cut": 0, "stalled": 0, "aborted": 0}
    assert stats["responses"]["completed"] == 1
    assert http.post("/mock/reset").json()["requests"] == {}


def test_completions_json_and_stream(client: openai.OpenAI) -> None:
    reply = client.completions.create(model="beta", prompt="say something")
    assert reply.object == "text_completion"
    assert reply.choices[0].text == f"[{NAME}] echo: say something"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (2, 4)

    stream = client.completions.create(
        model="beta", prompt="say something", stream=True, stream_options={"include_usage": True}
    )
    with stream:
        chunks = list(stream)
    assert "".join(chunk.choices[0].text for chunk in chunks if chunk.choices) == reply.choices[0].text
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 6


def test_embeddings_are_deterministic_unit_vectors(client: openai.OpenAI) -> None:
    first = client.embeddings.create(model="alpha", input=["red apple", "green pear"])
    again = client.embeddings.create(model="alpha", input="red apple")
    packed = client.embeddings.create(model="alpha", input="red apple", encoding_format="base64")

    vectors = [item.embedding for item in first.data]
    assert [len(vector) for vector in vectors] == [8, 8]
    assert vectors[0] == again.data[0].embedding
    assert vectors[0] != vectors[1]
    assert math.isclose(math.sqrt(sum(value * value for value in vectors[0])), 1.0, abs_tol=1e-4)
    assert first.usage.prompt_tokens == 4
    decoded = struct.unpack("<8f", base64.b64decode(str(packed.data[0].embedding)))
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(decoded, vectors[0], strict=True))


def test_models_and_health(client: openai.OpenAI, http: httpx.Client) -> None:
    assert [model.id for model in client.models.list()] == ["alpha", "beta"]
    health = http.get("/health")
    assert health.json() == {"status": "ok", "name": NAME}
    assert health.headers[BACKEND_HEADER] == NAME


@pytest.mark.parametrize(
    ("content", "headers", "param"),
    [
        (b"{not json", {}, None),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', {}, "model"),
        (b'{"model": "alpha"}', {}, "messages"),
        (b'{"model": "alpha", "messages": []}', {}, "messages"),
        (b'{"model": "alpha", "messages": [{"role": "user"}]}', {MockHeader.STATUS: "200"}, None),
        (b'{"model": "alpha", "messages": [{"role": "user"}]}', {MockHeader.TOKENS: "many"}, None),
    ],
)
def test_bad_input_is_a_400_openai_error(
    http: httpx.Client, content: bytes, headers: dict[str, str], param: str | None
) -> None:
    reply = http.post("/v1/chat/completions", content=content, headers=headers)

    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]


def test_unknown_path_is_a_404_openai_error(http: httpx.Client) -> None:
    reply = http.get("/v1/nothing")
    assert reply.status_code == 404
    assert reply.json()["error"]["type"] == "not_found_error"
    assert reply.headers[BACKEND_HEADER] == NAME


def test_server_wide_defaults_apply_to_every_request() -> None:
    settings = MockUpstreamSettings(name="broken", fail_status=502, fail_times=1, retry_after_s=7)
    with serving(settings) as url, httpx.Client(base_url=url, timeout=5) as http:
        body = {"model": "m", "messages": MESSAGES}
        first = http.post("/v1/chat/completions", json=body)
        assert (first.status_code, first.headers["retry-after"]) == (502, "7")
        assert first.json()["error"]["type"] == "server_error"
        second = http.post("/v1/chat/completions", json=body)
        assert second.status_code == 200
        assert second.json()["choices"][0]["message"]["content"] == "[broken] echo: hello mock world"
        overridden = http.post("/v1/chat/completions", json=body, headers={MockHeader.STATUS.value: "418"})
        assert overridden.status_code == 418


def test_settings_come_from_env_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLWAY_MOCK_NAME", "from-env")
    monkeypatch.setenv("TOLLWAY_MOCK_INTER_TOKEN_DELAY_MS", "7")
    settings = parse_settings(["--port", "9100", "--first-token-delay-ms", "30"])

    assert (settings.name, settings.port) == ("from-env", 9100)
    assert (settings.first_token_delay_ms, settings.inter_token_delay_ms) == (30, 7)
    assert parse_settings(["--name", "demo-a"]).name == "demo-a"


def test_module_runs_as_a_process() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "control_plane.demo.mock_upstream",
        "--port",
        str(port),
        "--name",
        "demo-sub",
    ]
    process = subprocess.Popen(command, env={**os.environ, "TOLLWAY_MOCK_MODELS": '["x"]'})
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the mock process did not start"
                time.sleep(0.05)
        assert reply.headers[BACKEND_HEADER] == "demo-sub"
        assert [model["id"] for model in reply.json()["data"]] == ["x"]
    finally:
        process.terminate()
        assert process.wait(timeout=5) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled

"""The mock's usage knobs (`x-mock-usage`, `x-mock-cached-tokens`) and the usage it reports in /mock/stats."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from control_plane.demo.mock_upstream import (
    Behaviour,
    MockHeader,
    MockUpstreamSettings,
    UsageMode,
)
from tests.unit.control_plane.demo.test_mock_upstream import MESSAGES, serving

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serving(MockUpstreamSettings(name="usage")) as url:
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


def _body(stream: bool = False, include_usage: bool = False, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "alpha", "messages": MESSAGES, "stream": stream, **extra}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return body


def _stats(http: httpx.Client) -> dict[str, Any]:
    stats: dict[str, Any] = http.get("/mock/stats").json()
    return stats


def test_cached_tokens_header_fills_prompt_tokens_details(client: openai.OpenAI) -> None:
    headers = {MockHeader.CACHED_TOKENS.value: "3"}
    reply = client.chat.completions.create(model="alpha", messages=MESSAGES, extra_headers=headers)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.cached_tokens == 3
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, 5)

    stream = client.chat.completions.create(
        model="alpha",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=headers,
    )
    with stream:
        last = list(stream)[-1]
    assert last.usage is not None
    assert last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == 3


def test_without_the_header_there_are_no_prompt_tokens_details(http: httpx.Client) -> None:
    assert "prompt_tokens_details" not in http.post(CHAT, json=_body()).json()["usage"]


def test_usage_omit_removes_usage_from_json_and_stream(http: httpx.Client) -> None:
    headers = {MockHeader.USAGE.value: "omit"}
    plain = http.post(CHAT, json=_body(), headers=headers).json()
    assert "usage" not in plain
    assert plain["choices"][0]["message"]["content"]
    streamed = http.post(CHAT, json=_body(stream=True, include_usage=True), headers=headers).text
    assert '"usage"' not in streamed
    assert streamed.endswith("data: [DONE]\n\n")
    assert streamed.count("data: ") == 1 + 5 + 1 + 1  # role, content, finish, [DONE]: no usage chunk


def test_usage_zero_reports_zeros(http: httpx.Client) -> None:
    headers = {MockHeader.USAGE.value: "zero", MockHeader.CACHED_TOKENS.value: "4"}
    plain = http.post(CHAT, json=_body(), headers=headers).json()
    assert plain["usage"] == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert plain["choices"][0]["message"]["content"]  # the answer itself is unchanged
    streamed = http.post(CHAT, json=_body(stream=True, include_usage=True), headers=headers).text
    assert '"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0' in streamed


@pytest.mark.parametrize(
    "headers", [{MockHeader.USAGE.value: "sometimes"}, {MockHeader.CACHED_TOKENS.value: "-1"}]
)
def test_bad_usage_headers_are_400(http: httpx.Client, headers: dict[str, str]) -> None:
    reply = http.post(CHAT, json=_body(), headers=headers)
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_server_wide_usage_defaults_and_header_override() -> None:
    defaults = MockUpstreamSettings(usage=UsageMode.ZERO, cached_tokens=2)
    assert Behaviour.resolve({}, defaults).usage is UsageMode.ZERO
    assert Behaviour.resolve({}, defaults).cached_tokens == 2
    overridden = Behaviour.resolve({MockHeader.USAGE: "Report", MockHeader.CACHED_TOKENS: "9"}, defaults)
    assert (overridden.usage, overridden.cached_tokens) == (UsageMode.REPORT, 9)


def test_stats_total_the_usage_reported_and_the_tokens_sent(http: httpx.Client) -> None:
    http.post(CHAT, json=_body(), headers={"x-request-id": "plain", MockHeader.CACHED_TOKENS.value: "2"})
    http.post(CHAT, json=_body(stream=True, include_usage=True), headers={"x-request-id": "with-usage"})
    http.post(CHAT, json=_body(stream=True), headers={"x-request-id": "no-usage-asked"})
    http.post(CHAT, json=_body(), headers={"x-request-id": "omitted", MockHeader.USAGE.value: "omit"})
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(
            CHAT,
            json=_body(stream=True, include_usage=True),
            headers={"x-request-id": "cut", MockHeader.CUT_AFTER.value: "2"},
        )
    http.post(CHAT, json=_body(), headers={MockHeader.STATUS.value: "503"})  # no generation

    stats = _stats(http)
    assert stats["usage"] == {
        "reported": 2,
        "prompt_tokens": 10,
        "completion_tokens": 10,
        "total_tokens": 20,
        "cached_tokens": 2,
        "completion_tokens_sent": 5 + 5 + 5 + 5 + 2,
    }
    log = {g["request_id"]: g for g in stats["generations"]}
    assert list(log) == ["plain", "with-usage", "no-usage-asked", "omitted", "cut"]
    summary = {rid: (g["stream"], g["outcome"], g["completion_tokens_sent"]) for rid, g in log.items()}
    assert summary == {
        "plain": (False, "completed", 5),
        "with-usage": (True, "completed", 5),
        "no-usage-asked": (True, "completed", 5),
        "omitted": (False, "completed", 5),
        "cut": (True, "cut", 2),
    }
    assert log["with-usage"]["usage"] == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
    assert log["no-usage-asked"]["usage"] is None
    assert log["cut"]["usage"] is None
    assert all(g["prompt_tokens"] == 5 and g["model"] == "alpha" for g in log.values())
    assert http.post("/mock/reset").json()["usage"]["reported"] == 0


def test_a_client_that_goes_away_is_logged_with_the_tokens_sent_so_far(http: httpx.Client) -> None:
    headers = {
        "x-request-id": "impatient",
        MockHeader.TOKENS.value: "40",
        MockHeader.INTER_TOKEN_DELAY_MS.value: "50",
    }
    with http.stream("POST", CHAT, json=_body(stream=True, include_usage=True), headers=headers) as reply:
        events = 0
        for line in reply.iter_lines():
            events += line.startswith("data: ")
            if events == 4:  # the role chunk and three content chunks
                break
    deadline = time.monotonic() + 5
    while not _stats(http)["generations"]:
        assert time.monotonic() < deadline, "the aborted stream was not logged"
        time.sleep(0.02)

    [record] = _stats(http)["generations"]
    assert record["request_id"] == "impatient"
    assert record["outcome"] == "aborted"
    assert 3 <= record["completion_tokens_sent"] < 40
    assert record["usage"] is None
    assert _stats(http)["streams"]["aborted"] == 1

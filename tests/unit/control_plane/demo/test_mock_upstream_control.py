"""The mock's runtime controls: `/mock/behaviour`, held-back response headers, the arrival log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from control_plane.demo.mock_upstream import BACKEND_HEADER, MockHeader, MockUpstreamSettings
from tests.unit.control_plane.demo.test_mock_upstream import MESSAGES, serving

CHAT = "/v1/chat/completions"
STARTUP = {
    "fail_status": None,
    "fail_times": None,
    "retry_after_s": None,
    "first_token_delay_ms": 0,
    "inter_token_delay_ms": 5,
    "tokens": None,
    "cut_after": None,
    "stall_after": None,
    "hold_headers": False,
}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serving(MockUpstreamSettings(name="control", inter_token_delay_ms=5)) as url:
        yield url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=5) as client:
        assert client.delete("/mock/behaviour").status_code == 200
        assert client.post("/mock/reset").status_code == 200
        yield client


def _body(stream: bool = False) -> dict[str, Any]:
    return {"model": "alpha", "messages": MESSAGES, "stream": stream}


def _stats(http: httpx.Client) -> dict[str, Any]:
    stats: dict[str, Any] = http.get("/mock/stats").json()
    return stats


def _wait_for(http: httpx.Client, key: str, count: int, timeout_s: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while len((stats := _stats(http))[key]) < count:
        assert time.monotonic() < deadline, f"/mock/stats has no {count} {key}"
        time.sleep(0.02)
    return stats


def test_behaviour_get_put_delete(http: httpx.Client) -> None:
    assert http.get("/mock/behaviour").json() == {"overridden": False, **STARTUP}

    put = http.put("/mock/behaviour", json={"fail_status": 503, "retry_after_s": 2, "tokens": 3})
    expected = {**STARTUP, "fail_status": 503, "retry_after_s": 2, "tokens": 3}
    assert put.status_code == 200
    assert put.json() == {"overridden": True, **expected}
    assert http.get("/mock/behaviour").json() == {"overridden": True, **expected}
    failed = http.post(CHAT, json=_body())
    assert (failed.status_code, failed.headers["retry-after"]) == (503, "2")
    assert failed.json()["error"]["code"] == "mock_injected_failure"

    # a second PUT starts again from the startup settings: fail_status, retry_after_s and tokens go back
    second = http.put("/mock/behaviour", json={"first_token_delay_ms": 20})
    assert second.json() == {"overridden": True, **STARTUP, "first_token_delay_ms": 20}
    assert http.post(CHAT, json=_body()).json()["choices"][0]["message"]["content"] == (
        "[control] echo: hello mock world"
    )

    assert http.put("/mock/behaviour", json={"tokens": 2}).status_code == 200
    assert http.post("/mock/reset").status_code == 200
    assert http.get("/mock/behaviour").json()["tokens"] == 2  # a reset keeps the override
    assert http.delete("/mock/behaviour").json() == {"overridden": False, **STARTUP}
    assert http.post(CHAT, json=_body()).json()["usage"]["completion_tokens"] == 5
    assert "/mock/behaviour" not in _stats(http)["requests"]


def test_request_headers_still_override_the_behaviour(http: httpx.Client) -> None:
    http.put("/mock/behaviour", json={"fail_status": 502, "tokens": 3})

    assert http.post(CHAT, json=_body()).status_code == 502
    overridden = http.post(CHAT, json=_body(), headers={MockHeader.STATUS.value: "429"})
    assert overridden.status_code == 429
    http.put("/mock/behaviour", json={"tokens": 3})
    reply = http.post(CHAT, json=_body(), headers={MockHeader.TOKENS.value: "7"})
    assert reply.json()["usage"]["completion_tokens"] == 7
    assert http.post(CHAT, json=_body()).json()["usage"]["completion_tokens"] == 3


def test_a_new_behaviour_counts_fail_times_from_zero(http: httpx.Client) -> None:
    http.put("/mock/behaviour", json={"fail_status": 503, "fail_times": 1})
    assert [http.post(CHAT, json=_body()).status_code for _ in range(2)] == [503, 200]

    http.put("/mock/behaviour", json={"fail_status": 500, "fail_times": 2})
    assert [http.post(CHAT, json=_body()).status_code for _ in range(3)] == [500, 500, 200]
    assert _stats(http)["failures_injected"] == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[1, 2]", "must be a JSON object"),
        (b"{not json", "not valid JSON"),
        (b'{"port": 1234}', "unknown behaviour fields ['port']"),
        (b'{"usage": "omit"}', "unknown behaviour fields ['usage']"),
        (b'{"fail_status": 200}', "fail_status: Input should be greater than or equal to 400"),
        (b'{"fail_status": 600}', "fail_status: Input should be less than or equal to 599"),
        (b'{"first_token_delay_ms": -1}', "first_token_delay_ms: Input should be greater than or equal to 0"),
        (b'{"tokens": "5"}', "tokens: Input should be a valid integer"),
        (b'{"hold_headers": 1}', "hold_headers: Input should be a valid boolean"),
        (b'{"cut_after": 1.5}', "cut_after: Input should be a valid integer"),
    ],
)
def test_bad_behaviour_is_a_400_and_changes_nothing(http: httpx.Client, content: bytes, message: str) -> None:
    http.put("/mock/behaviour", json={"tokens": 4})

    reply = http.put("/mock/behaviour", content=content)

    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert message in error["message"]
    assert http.get("/mock/behaviour").json() == {"overridden": True, **STARTUP, "tokens": 4}


def _time_to_headers_and_first_event(
    http: httpx.Client, headers: dict[str, str], path: str = CHAT
) -> tuple[float, float, httpx.Headers, bytes]:
    body = {"model": "alpha", "prompt": "hi", "stream": True} if path != CHAT else _body(stream=True)
    started = time.monotonic()
    with http.stream("POST", path, json=body, headers=headers) as reply:
        headers_s = time.monotonic() - started
        chunks = reply.iter_raw()
        first = next(chunks)
        first_s = time.monotonic() - started
        rest = b"".join(chunks)
    return headers_s, first_s, reply.headers, first + rest


def test_hold_headers_sends_the_headers_with_the_first_event(http: httpx.Client) -> None:
    hold = {MockHeader.FIRST_TOKEN_DELAY_MS.value: "300", MockHeader.HOLD_HEADERS.value: "1"}

    headers_s, first_s, headers, body = _time_to_headers_and_first_event(http, hold)

    assert headers_s >= 0.25
    assert first_s - headers_s < 0.1
    assert headers["content-type"].startswith("text/event-stream")
    assert headers[BACKEND_HEADER] == "control"
    assert body.count(b"data: ") == 8
    assert body.endswith(b"data: [DONE]\n\n")
    stats = _stats(http)
    assert stats["streams"]["completed"] == 1
    assert [arrival["status"] for arrival in stats["arrivals"]] == [200]


def test_without_hold_the_headers_come_at_once(http: httpx.Client) -> None:
    delay = {MockHeader.FIRST_TOKEN_DELAY_MS.value: "300"}

    headers_s, first_s, _, body = _time_to_headers_and_first_event(http, delay)

    assert headers_s < 0.2
    assert first_s >= 0.25
    assert body.endswith(b"data: [DONE]\n\n")


def test_hold_headers_from_the_behaviour_and_off_by_header(http: httpx.Client) -> None:
    http.put("/mock/behaviour", json={"first_token_delay_ms": 300, "hold_headers": True})

    held_s, _, _, _ = _time_to_headers_and_first_event(http, {}, "/v1/completions")
    off_s, first_s, _, _ = _time_to_headers_and_first_event(http, {MockHeader.HOLD_HEADERS.value: "0"})

    assert held_s >= 0.25
    assert off_s < 0.2
    assert first_s >= 0.25


def test_a_client_leaving_during_the_hold_aborts_the_generation(base_url: str, http: httpx.Client) -> None:
    headers = {
        "x-request-id": "gave-up",
        MockHeader.FIRST_TOKEN_DELAY_MS.value: "3000",
        MockHeader.HOLD_HEADERS.value: "1",
    }
    started = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post(CHAT, json=_body(stream=True), headers=headers)

    stats = _wait_for(http, "generations", 1)
    assert time.monotonic() - started < 2  # noticed at the disconnect, not after the 3 s delay
    [record] = stats["generations"]
    assert (record["request_id"], record["outcome"], record["completion_tokens_sent"]) == (
        "gave-up",
        "aborted",
        0,
    )
    assert stats["streams"] == {"started": 1, "completed": 0, "cut": 0, "stalled": 0, "aborted": 1}
    [arrival] = stats["arrivals"]
    assert (arrival["request_id"], arrival["status"]) == ("gave-up", None)


def test_hold_with_a_cut_before_the_first_event_sends_headers_then_drops(http: httpx.Client) -> None:
    headers = {MockHeader.HOLD_HEADERS.value: "1", MockHeader.CUT_AFTER.value: "0"}
    body = {"model": "alpha", "prompt": "hi", "stream": True}
    with http.stream("POST", "/v1/completions", json=body, headers=headers) as reply:
        assert reply.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            reply.read()

    assert _stats(http)["streams"]["cut"] == 1


def test_arrivals_log_generation_requests_with_their_status(http: httpx.Client) -> None:
    before = time.time()
    fail_once = {
        MockHeader.STATUS.value: "429",
        MockHeader.RETRY_AFTER.value: "1",
        MockHeader.FAIL_TIMES.value: "1",
    }
    http.post(
        CHAT, json=_body(), headers={"x-request-id": "r1", **fail_once, MockHeader.FAIL_KEY.value: "r1"}
    )
    time.sleep(0.1)
    http.post(
        CHAT, json=_body(), headers={"x-request-id": "r1", **fail_once, MockHeader.FAIL_KEY.value: "r1"}
    )
    http.post("/v1/completions", json={"model": "alpha", "prompt": "hi"}, headers={"x-request-id": "r2"})
    http.post("/v1/embeddings", json={"model": "alpha", "input": "hi"})
    http.post(CHAT, content=b"{not json", headers={"x-request-id": "bad"})
    http.get("/v1/models")
    http.get("/health")
    after = time.time()

    arrivals = _stats(http)["arrivals"]

    seen = [(entry["path"], entry["request_id"], entry["status"]) for entry in arrivals]
    assert seen == [
        (CHAT, "r1", 429),
        (CHAT, "r1", 200),
        ("/v1/completions", "r2", 200),
        ("/v1/embeddings", None, 200),
        (CHAT, "bad", 400),
    ]
    times = [entry["time"] for entry in arrivals]
    assert before <= times[0] <= times[-1] <= after
    assert times == sorted(times)
    assert times[1] - times[0] >= 0.1
    assert arrivals[1]["monotonic"] - arrivals[0]["monotonic"] >= 0.1
    assert http.post("/mock/reset").json()["arrivals"] == []


def test_arrival_status_of_a_stalled_plain_reply_is_set_when_the_client_leaves(
    base_url: str, http: httpx.Client
) -> None:
    with httpx.Client(base_url=base_url, timeout=0.2) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post(CHAT, json=_body(), headers={MockHeader.STALL_AFTER.value: "0"})

    deadline = time.monotonic() + 5
    while _stats(http)["arrivals"][0]["status"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    [arrival] = _stats(http)["arrivals"]
    assert (arrival["path"], arrival["status"]) == (CHAT, 499)
    assert _stats(http)["responses"]["stalled"] == 1

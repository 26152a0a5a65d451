"""The walking skeleton end to end: the official openai SDK → Envoy → ext_proc → mock upstream."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from control_plane.admin_client import AdminClient
from control_plane.launcher import StackInfo
from control_plane.launcher.readiness import free_port
from control_plane.model import Backend, Model

pytestmark = pytest.mark.integration


def test_non_stream_chat_completion(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "hello there"}]
    )
    assert reply.choices[0].message.content == "[demo-upstream] echo: hello there"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 4


def test_stream_chat_completion_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="demo",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "[demo-upstream] echo: stream me"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4


def test_models_list_comes_from_the_registry(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "demo" in ids
    assert client.models.retrieve("demo").id == "demo"


def test_unknown_model_is_an_openai_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found"
    assert caught.value.response.headers.get("x-request-id")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b'{"messages": []}', 400, "model_required"),
        (b'{"model": 42}', 400, "model_required"),
    ],
)
def test_bad_requests_get_openai_errors(
    info: StackInfo, auth: dict[str, str], body: bytes, status: int, code: str
) -> None:
    response = httpx.post(
        f"{info.listener_url}/chat/completions",
        content=body,
        headers={"content-type": "application/json", **auth},
    )
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert response.headers.get("x-request-id")


def test_client_cannot_choose_the_route_with_gateway_headers(info: StackInfo, auth: dict[str, str]) -> None:
    """A client-sent x-tollway-model is stripped: the body's model decides."""
    response = httpx.post(
        f"{info.listener_url}/chat/completions",
        json={"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]},
        headers={"x-tollway-model": "demo", **auth},
    )
    assert response.status_code == 404


def test_unknown_path_is_a_json_404(info: StackInfo, auth: dict[str, str]) -> None:
    response = httpx.post(f"{info.listener_url}/nothing-here", json={}, headers=auth)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_dead_backend_gives_a_fixed_json_503_without_internal_text(
    info: StackInfo, admin: AdminClient, auth: dict[str, str]
) -> None:
    dead_port = free_port()  # nothing listens here
    admin.put_model(
        Model(name="dead", backends=(Backend(name="gone", base_url=f"http://127.0.0.1:{dead_port}/v1"),))
    )
    deadline = time.monotonic() + 10
    body = {"model": "dead", "messages": []}
    response = httpx.post(f"{info.listener_url}/chat/completions", json=body, headers=auth)
    while response.status_code == 404 and time.monotonic() < deadline:  # until the route arrives
        time.sleep(0.05)
        response = httpx.post(f"{info.listener_url}/chat/completions", json=body, headers=auth)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "upstream_unavailable"
    assert error["message"] == "The model server failed or could not be reached; retry later."
    assert str(dead_port) not in response.text
    assert "connect" not in response.text.lower()
    assert response.headers.get("x-request-id")
    admin.remove_model("dead")

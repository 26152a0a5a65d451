"""A stream that breaks after bytes reached the client ends in an error the official SDK raises, never
in a clean `[DONE]`; the request is billed once, as incomplete, for what was delivered."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from control_plane.launcher import StackInfo
from control_plane.model import Backend, Limits, Model, Timeouts, TrafficPolicy
from tests.support.ledger import ledger_records
from tests.support.mock_fleet import MockFleet
from tests.support.tenants import ProvisionedTenant, TenantFactory

pytestmark = pytest.mark.integration

IDLE_S = 2.0


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockFleet]:
    with MockFleet(tmp_path_factory.mktemp("truth")) as fleet:
        fleet.start("truth")
        yield fleet


@pytest.fixture(scope="module")
def model(info: StackInfo, fleet: MockFleet, tenants: TenantFactory) -> str:
    """A model whose responses may be silent for at most IDLE_S seconds."""
    name = f"truth-{uuid.uuid4().hex[:8]}"
    tenants.admin.put_model(
        Model(
            name=name,
            backends=(Backend(name="truth", base_url=fleet.url("truth")),),
            traffic=TrafficPolicy(timeouts=Timeouts(idle_s=IDLE_S)),
        )
    )
    return name


@pytest.fixture
def tenant(tenants: TenantFactory) -> ProvisionedTenant:
    return tenants.create(Limits())


def _sdk(info: StackInfo, tenant: ProvisionedTenant, model: str) -> openai.OpenAI:
    client = openai.OpenAI(base_url=info.listener_url, api_key=tenant.secret, max_retries=0, timeout=30)
    deadline = time.monotonic() + 15
    while True:  # wait until the model routes
        try:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
            return client
        except openai.APIStatusError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def _consume(
    client: openai.OpenAI, model: str, headers: dict[str, str]
) -> tuple[str, list[str], Exception | None]:
    """The request id, the content pieces received before the stream ended, and the exception it ended
    with (None: it ended cleanly)."""
    pieces: list[str] = []
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "one two three four five six seven eight nine ten"}],
        stream=True,
        extra_headers=headers,
    )
    request_id = stream.response.headers["x-request-id"]
    try:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    except (httpx.HTTPError, openai.APIError) as exc:
        return request_id, pieces, exc
    return request_id, pieces, None


def _records(info: StackInfo, tenant: str, request_id: str) -> list[dict[str, Any]]:
    return ledger_records(info.redis_url, tenant, request_id)


@pytest.mark.parametrize("fault", ["x-mock-cut-after", "x-mock-stall-after"])
def test_a_stream_broken_after_three_chunks_raises_in_the_sdk_and_is_billed_incomplete(
    info: StackInfo, model: str, tenant: ProvisionedTenant, fault: str
) -> None:
    client = _sdk(info, tenant, model)
    started = time.monotonic()
    request_id, pieces, error = _consume(client, model, {fault: "3", "x-mock-inter-token-delay-ms": "20"})
    elapsed = time.monotonic() - started

    assert error is not None, "a truncated stream ended as if complete"
    # A cut may reset the client's stream while the last chunk is still in Envoy's buffers.
    assert 1 <= len(pieces) <= 3 if fault == "x-mock-cut-after" else len(pieces) == 3
    if fault == "x-mock-stall-after":
        assert IDLE_S - 0.2 <= elapsed < IDLE_S + 3.0  # the idle timeout ended the silence
    [broken] = _records(info, tenant.id, request_id)  # exactly one record for the request
    assert broken["outcome"] == "incomplete"
    assert broken["stream"] is True
    assert broken["completion_tokens"] >= len(pieces)  # billed at least what the client received
    assert broken["estimated"] is True


def test_a_complete_stream_still_ends_cleanly(info: StackInfo, model: str, tenant: ProvisionedTenant) -> None:
    client = _sdk(info, tenant, model)
    request_id, pieces, error = _consume(client, model, {})
    assert error is None
    assert len(pieces) >= 10
    assert [r["outcome"] for r in _records(info, tenant.id, request_id)] == ["ok"]

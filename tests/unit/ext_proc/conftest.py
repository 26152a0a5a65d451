"""Shared fixtures: the real message classes (building the descriptor set if missing), a codec,
ProcessingRequest builders, registry snapshots with plans and tenants, the `GatewayServices` the
processors use (real model and policy tables, fake auth/quota/billing, a fixed clock), and a helper
that drives a StreamSession message by message.

Keys known to the fake authenticator (the driver sends `tw-acme` unless told otherwise):

    tw-acme        tenant acme (plan standard: every model, output reserve 200)
    tw-acme-llama  tenant acme, key allow-list: meta-llama/Llama-3-8B only
    tw-frozen      tenant frozen (suspended)
    tw-limited     tenant limited (plan restricted: gpt-4o-mini only, reserve 64, max_output_tokens 100)
    tw-ghost       tenant ghost, which is not in the registry (a key that outlived its tenant)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from control_plane.model import Backend, Model, Plan, RegistrySpec, Snapshot, Tenant, TenantStatus
from ext_proc.governance.contracts import Principal
from ext_proc.governance.policies import PolicyTableHolder
from ext_proc.model_table import ModelTableHolder
from ext_proc.processors import openai_processors
from ext_proc.proto import ExtProcMessages, ProcessingCodec, load_messages
from ext_proc.proto.build import DESCRIPTOR_SET_PATH, build_descriptor_set
from ext_proc.server import StreamSession
from ext_proc.services import GatewayServices
from ext_proc.token_count import TokenCounter
from tests.support.governance_fakes import FakeAuthenticator, FakeBilling, FakeGate, FixedClock

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

PLANS = (
    Plan(name="standard", output_reserve_tokens=200),
    Plan(name="restricted", allowed_models=("gpt-4o-mini",), output_reserve_tokens=64, max_output_tokens=100),
)
TENANTS = (
    Tenant(id="acme", plan="standard"),
    Tenant(id="frozen", plan="standard", status=TenantStatus.SUSPENDED),
    Tenant(id="limited", plan="restricted"),
)
PRINCIPALS = {
    "tw-acme": Principal(tenant="acme", key_id="key_acme"),
    "tw-acme-llama": Principal(
        tenant="acme", key_id="key_acme_llama", allowed_models=frozenset({"meta-llama/Llama-3-8B"})
    ),
    "tw-frozen": Principal(tenant="frozen", key_id="key_frozen"),
    "tw-limited": Principal(tenant="limited", key_id="key_limited"),
    "tw-ghost": Principal(tenant="ghost", key_id="key_ghost"),
}


@pytest.fixture(scope="session")
def messages() -> ExtProcMessages:
    if not DESCRIPTOR_SET_PATH.exists():
        build_descriptor_set()
    return load_messages()


@pytest.fixture(scope="session")
def codec(messages: ExtProcMessages) -> ProcessingCodec:
    return ProcessingCodec(messages)


@pytest.fixture(scope="session")
def token_counter() -> TokenCounter:
    return TokenCounter()


class SnapshotFactory:
    """`snapshots(version, ("name", "alias", ...), ...)` → a valid Snapshot with PLANS and TENANTS."""

    def __call__(self, version: int, *models: tuple[str, ...], owned_by: str = "tollway") -> Snapshot:
        return Snapshot(
            version=version,
            spec=RegistrySpec(
                models=tuple(self.model(*m, owned_by=owned_by) for m in models), plans=PLANS, tenants=TENANTS
            ),
        )

    @staticmethod
    def model(name: str, *aliases: str, owned_by: str = "tollway") -> Model:
        return Model(
            name=name,
            aliases=aliases,
            owned_by=owned_by,
            backends=(Backend(name="b1", base_url="http://127.0.0.1:8000/v1"),),
        )


@pytest.fixture
def snapshots() -> SnapshotFactory:
    return SnapshotFactory()


@pytest.fixture
def snapshot(snapshots: SnapshotFactory) -> Snapshot:
    """Version 7: a model whose id has a slash (owned by meta), and one with two aliases."""
    return Snapshot(
        version=7,
        spec=RegistrySpec(
            models=(
                snapshots.model("meta-llama/Llama-3-8B", "llama3", owned_by="meta"),
                snapshots.model("gpt-4o-mini", "mini", "small"),
            ),
            plans=PLANS,
            tenants=TENANTS,
        ),
    )


@pytest.fixture
def tables(snapshot: Snapshot) -> ModelTableHolder:
    holder = ModelTableHolder()
    assert holder.load(snapshot)
    return holder


@pytest.fixture
def policies(snapshot: Snapshot) -> PolicyTableHolder:
    holder = PolicyTableHolder()
    assert holder.load(snapshot)
    return holder


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def authenticator() -> FakeAuthenticator:
    return FakeAuthenticator(PRINCIPALS)


@pytest.fixture
def gate() -> FakeGate:
    return FakeGate()


@pytest.fixture
def billing() -> FakeBilling:
    return FakeBilling()


@pytest.fixture
def services(
    tables: ModelTableHolder,
    policies: PolicyTableHolder,
    authenticator: FakeAuthenticator,
    gate: FakeGate,
    billing: FakeBilling,
    token_counter: TokenCounter,
    clock: FixedClock,
) -> GatewayServices:
    return GatewayServices(
        models=tables,
        policies=policies,
        authenticator=authenticator,
        gate=gate,
        billing=billing,
        tokens=token_counter,
        clock=clock,
    )


class ExtProcDriver:
    """Builds ProcessingRequest messages and answers them through a StreamSession, via bytes."""

    def __init__(self, messages: ExtProcMessages, codec: ProcessingCodec) -> None:
        self.m = messages
        self.codec = codec

    def _header_map(self, headers: Sequence[tuple[str, str]]) -> Any:
        return self.m.HeaderMap(headers=[self.m.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers])

    def request_headers(
        self,
        method: str,
        path: str,
        *,
        end_of_stream: bool = False,
        request_id: str | None = "req-1",
        key: str | None = "tw-acme",
        extra: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    ) -> Any:
        """Request headers; `key` goes in `authorization: Bearer <key>` (None: no authorization)."""
        headers = [(":method", method), (":path", path), (":authority", "gw.test"), (":scheme", "http")]
        if request_id is not None:
            headers.append(("x-request-id", request_id))
        if key is not None:
            headers.append(("authorization", f"Bearer {key}"))
        headers.extend(extra.items() if isinstance(extra, Mapping) else extra)
        return self.m.ProcessingRequest(
            request_headers=self.m.HttpHeaders(headers=self._header_map(headers), end_of_stream=end_of_stream)
        )

    def request_body(self, body: bytes | dict[str, Any], *, end_of_stream: bool = True) -> Any:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return self.m.ProcessingRequest(request_body=self.m.HttpBody(body=data, end_of_stream=end_of_stream))

    def response_headers(
        self,
        status: int = 200,
        content_type: str | None = "application/json",
        *,
        end_of_stream: bool = False,
        extra: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    ) -> Any:
        headers = [(":status", str(status))]
        if content_type is not None:
            headers.append(("content-type", content_type))
        headers.extend(extra.items() if isinstance(extra, Mapping) else extra)
        return self.m.ProcessingRequest(
            response_headers=self.m.HttpHeaders(
                headers=self._header_map(headers), end_of_stream=end_of_stream
            )
        )

    def response_body(self, body: bytes | dict[str, Any], *, end_of_stream: bool = True) -> Any:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return self.m.ProcessingRequest(response_body=self.m.HttpBody(body=data, end_of_stream=end_of_stream))

    async def answer(self, session: StreamSession, request: Any) -> Any:
        event = self.codec.decode_request(request.SerializeToString())
        answer = await session.answer(event)
        return self.m.ProcessingResponse.FromString(self.codec.encode_answer(answer))

    @staticmethod
    def immediate(response: Any) -> tuple[int, dict[str, str], Any, str]:
        """(status, headers, JSON body, details) of an ImmediateResponse; only raw_value may be set."""
        assert response.WhichOneof("response") == "immediate_response"
        immediate = response.immediate_response
        return (
            immediate.status.code,
            ExtProcDriver.set_headers(immediate.headers, with_action=False),
            orjson.loads(immediate.body),
            immediate.details,
        )

    @staticmethod
    def set_headers(mutation: Any, *, with_action: bool = True) -> dict[str, Any]:
        """name → value (or (value, append_action)) of a HeaderMutation's set_headers."""
        result: dict[str, Any] = {}
        for option in mutation.set_headers:
            assert option.header.value == ""  # Envoy rejects value and raw_value together
            value = option.header.raw_value.decode()
            result[option.header.key] = (value, option.append_action) if with_action else value
        return result


@pytest.fixture
def driver(messages: ExtProcMessages, codec: ProcessingCodec) -> ExtProcDriver:
    return ExtProcDriver(messages, codec)


@pytest.fixture
def session(services: GatewayServices) -> StreamSession:
    return StreamSession(openai_processors(services))

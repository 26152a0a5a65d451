"""Shared fixtures: the real message classes (building the descriptor set if missing), a codec,
request builders, registry snapshots, and a helper that drives a StreamSession message by message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pytest

from control_plane.model import Backend, Model, RegistrySpec, Snapshot
from ext_proc.model_table import ModelTableHolder
from ext_proc.processors import openai_processors
from ext_proc.proto import ExtProcMessages, ProcessingCodec, load_messages
from ext_proc.proto.build import DESCRIPTOR_SET_PATH, build_descriptor_set
from ext_proc.server import StreamSession


@pytest.fixture(scope="session")
def messages() -> ExtProcMessages:
    if not DESCRIPTOR_SET_PATH.exists():
        build_descriptor_set()
    return load_messages()


@pytest.fixture(scope="session")
def codec(messages: ExtProcMessages) -> ProcessingCodec:
    return ProcessingCodec(messages)


class SnapshotFactory:
    """`snapshots(version, ("name", "alias", ...), ...)` → a valid Snapshot."""

    def __call__(self, version: int, *models: tuple[str, ...], owned_by: str = "tollway") -> Snapshot:
        return Snapshot(
            version=version,
            spec=RegistrySpec(models=tuple(self.model(*m, owned_by=owned_by) for m in models)),
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
            )
        ),
    )


@pytest.fixture
def tables(snapshot: Snapshot) -> ModelTableHolder:
    holder = ModelTableHolder()
    assert holder.load(snapshot)
    return holder


class ExtProcDriver:
    """Builds ProcessingRequest messages and answers them through a StreamSession, via bytes."""

    def __init__(self, messages: ExtProcMessages, codec: ProcessingCodec) -> None:
        self.m = messages
        self.codec = codec

    def request_headers(
        self,
        method: str,
        path: str,
        *,
        end_of_stream: bool = False,
        request_id: str | None = "req-1",
        extra: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    ) -> Any:
        headers = [(":method", method), (":path", path), (":authority", "gw.test"), (":scheme", "http")]
        if request_id is not None:
            headers.append(("x-request-id", request_id))
        headers.extend(extra.items() if isinstance(extra, Mapping) else extra)
        return self.m.ProcessingRequest(
            request_headers=self.m.HttpHeaders(
                headers=self.m.HeaderMap(
                    headers=[self.m.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers]
                ),
                end_of_stream=end_of_stream,
            )
        )

    def request_body(self, body: bytes | dict[str, Any], *, end_of_stream: bool = True) -> Any:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return self.m.ProcessingRequest(request_body=self.m.HttpBody(body=data, end_of_stream=end_of_stream))

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
def session(tables: ModelTableHolder) -> StreamSession:
    return StreamSession(openai_processors(tables))

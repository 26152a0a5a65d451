"""The descriptor-set loader and the codec between protobuf bytes and exchange values."""

from __future__ import annotations

from pathlib import Path

import pytest

from ext_proc.exchange import (
    BodyEvent,
    Continue,
    HeaderEdit,
    HeadersEvent,
    Immediate,
    Phase,
    ProcessingAnswer,
    TrailersEvent,
)
from ext_proc.proto import (
    DescriptorSetMissingError,
    ExtProcMessages,
    ProcessingCodec,
    ProtocolError,
    load_messages,
)
from ext_proc.proto.build import DESCRIPTOR_SET_PATH, build_descriptor_set


def test_descriptor_set_holds_ext_proc_api_and_its_imports(messages: ExtProcMessages) -> None:
    assert messages.file_count == 24
    assert messages.ProcessingRequest.DESCRIPTOR.full_name == "envoy.service.ext_proc.v3.ProcessingRequest"
    assert messages.HeaderValue.DESCRIPTOR.full_name == "envoy.config.core.v3.HeaderValue"
    assert messages.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD == 2
    assert messages.ProcessingRequest.DESCRIPTOR.file.services_by_name["ExternalProcessor"].methods_by_name[
        "Process"
    ]


def test_each_load_uses_its_own_pool(messages: ExtProcMessages) -> None:
    again = load_messages()
    assert again.ProcessingRequest is not messages.ProcessingRequest
    data = messages.HttpBody(body=b"x", end_of_stream=True).SerializeToString()
    assert again.HttpBody.FromString(data).body == b"x"


def test_missing_descriptor_set_tells_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(DescriptorSetMissingError, match=r"python -m ext_proc\.proto\.build"):
        load_messages(tmp_path / "absent.binpb")


def test_build_skips_an_existing_file_without_force(tmp_path: Path) -> None:
    existing = tmp_path / "ext_proc.binpb"
    existing.write_bytes(b"keep me")
    # python=/nonexistent would fail loudly if the build tried to run pip.
    assert build_descriptor_set(existing, python="/nonexistent/python") is False
    assert existing.read_bytes() == b"keep me"
    assert DESCRIPTOR_SET_PATH.name == "ext_proc.binpb"


def test_decode_request_headers_reads_raw_value(messages: ExtProcMessages, codec: ProcessingCodec) -> None:
    m = messages
    request = m.ProcessingRequest(
        request_headers=m.HttpHeaders(
            headers=m.HeaderMap(
                headers=[
                    m.HeaderValue(key=":path", raw_value=b"/v1/models?x=1"),
                    m.HeaderValue(key="x-legacy", value="text-value"),
                    m.HeaderValue(key="x-latin", raw_value=b"caf\xe9"),
                ]
            ),
            end_of_stream=True,
        )
    )
    event = codec.decode_request(request.SerializeToString())
    assert event == HeadersEvent(
        Phase.REQUEST_HEADERS,
        {":path": "/v1/models?x=1", "x-legacy": "text-value", "x-latin": "café"},
        True,
    )


def test_decode_bodies_and_trailers(messages: ExtProcMessages, codec: ProcessingCodec) -> None:
    m = messages
    body = m.ProcessingRequest(response_body=m.HttpBody(body=b'{"a":1}', end_of_stream=False))
    assert codec.decode_request(body.SerializeToString()) == BodyEvent(Phase.RESPONSE_BODY, b'{"a":1}', False)
    trailers = m.ProcessingRequest(request_trailers=m.HttpTrailers())
    assert codec.decode_request(trailers.SerializeToString()) == TrailersEvent(Phase.REQUEST_TRAILERS)


def test_decode_rejects_a_request_without_phase(messages: ExtProcMessages, codec: ProcessingCodec) -> None:
    with pytest.raises(ProtocolError):
        codec.decode_request(messages.ProcessingRequest().SerializeToString())


@pytest.mark.parametrize(
    ("phase", "field"),
    [
        (Phase.REQUEST_HEADERS, "request_headers"),
        (Phase.REQUEST_BODY, "request_body"),
        (Phase.RESPONSE_HEADERS, "response_headers"),
        (Phase.RESPONSE_BODY, "response_body"),
        (Phase.REQUEST_TRAILERS, "request_trailers"),
        (Phase.RESPONSE_TRAILERS, "response_trailers"),
    ],
)
def test_plain_continue_answers_the_same_phase(
    messages: ExtProcMessages, codec: ProcessingCodec, phase: Phase, field: str
) -> None:
    response = messages.ProcessingResponse.FromString(
        codec.encode_answer(ProcessingAnswer(phase, Continue()))
    )
    assert response.WhichOneof("response") == field
    assert response.ListFields()[0][1].ListFields() == []  # no mutation, no flags


def test_continue_with_edit_sets_raw_value_overwrite_and_route_flag(
    messages: ExtProcMessages, codec: ProcessingCodec
) -> None:
    reply = Continue(
        HeaderEdit(set_headers=(("x-tollway-model", "m1"),), remove_headers=("x-a", "x-b")), True
    )
    response = messages.ProcessingResponse.FromString(
        codec.encode_answer(ProcessingAnswer(Phase.REQUEST_BODY, reply))
    )
    common = response.request_body.response
    assert common.clear_route_cache is True
    assert list(common.header_mutation.remove_headers) == ["x-a", "x-b"]
    [option] = common.header_mutation.set_headers
    assert (option.header.key, option.header.raw_value, option.header.value) == ("x-tollway-model", b"m1", "")
    assert option.append_action == messages.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def test_immediate_carries_status_headers_body_details(
    messages: ExtProcMessages, codec: ProcessingCodec
) -> None:
    reply = Immediate(status=418, body=b"{}", headers=(("x-request-id", "r9"),), details="tollway_teapot")
    response = messages.ProcessingResponse.FromString(
        codec.encode_answer(ProcessingAnswer(Phase.REQUEST_BODY, reply))
    )
    immediate = response.immediate_response
    assert (immediate.status.code, immediate.body, immediate.details) == (418, b"{}", "tollway_teapot")
    [option] = immediate.headers.set_headers
    assert (option.header.key, option.header.raw_value) == ("x-request-id", b"r9")

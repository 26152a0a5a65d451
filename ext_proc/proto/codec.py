"""The typed seam between gRPC bytes and `ext_proc.exchange` values.

`decode_request` and `encode_answer` are the gRPC deserializer and serializer of the Process method,
so the stream loop and the processors only ever see typed values. Header values travel as
`raw_value` bytes in both directions (Envoy rejects a HeaderValue with both `value` and `raw_value`).
"""

from __future__ import annotations

from types import MappingProxyType

from ext_proc.exchange import (
    BodyEvent,
    Continue,
    HeaderEdit,
    HeadersEvent,
    Immediate,
    Phase,
    ProcessingAnswer,
    ProcessingEvent,
    ResponseBodyMode,
    TrailersEvent,
)
from ext_proc.proto.messages import ExtProcMessages

__all__ = ["ProcessingCodec", "ProtocolError"]

_EVENT_KINDS = MappingProxyType(
    {
        "request_headers": (Phase.REQUEST_HEADERS, HeadersEvent),
        "response_headers": (Phase.RESPONSE_HEADERS, HeadersEvent),
        "request_body": (Phase.REQUEST_BODY, BodyEvent),
        "response_body": (Phase.RESPONSE_BODY, BodyEvent),
        "request_trailers": (Phase.REQUEST_TRAILERS, TrailersEvent),
        "response_trailers": (Phase.RESPONSE_TRAILERS, TrailersEvent),
    }
)


class ProtocolError(ValueError):
    """Envoy sent a ProcessingRequest this server does not understand."""


class ProcessingCodec:
    """Turns ProcessingRequest bytes into events and answers into ProcessingResponse bytes."""

    def __init__(self, messages: ExtProcMessages) -> None:
        self._messages = messages
        self._overwrite_or_add = messages.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
        modes = messages.ProcessingMode
        self._mode_overrides = MappingProxyType(
            {
                mode: modes(
                    request_header_mode=modes.SEND,
                    response_header_mode=modes.SEND,
                    request_body_mode=modes.BUFFERED,
                    response_body_mode=getattr(modes, mode.value),
                    request_trailer_mode=modes.SKIP,
                    response_trailer_mode=modes.SKIP,
                )
                for mode in ResponseBodyMode
            }
        )
        # A plain "continue" is the commonest answer: serialize it once per phase.
        self._plain_continue = MappingProxyType(
            {phase: self._encode_continue(phase, Continue()) for phase in Phase}
        )

    @property
    def messages(self) -> ExtProcMessages:
        return self._messages

    def decode_request(self, data: bytes) -> ProcessingEvent:
        request = self._messages.ProcessingRequest.FromString(data)
        kind = request.WhichOneof("request")
        if kind not in _EVENT_KINDS:
            raise ProtocolError(f"ProcessingRequest without a known phase ({kind!r})")
        phase, event_type = _EVENT_KINDS[kind]
        payload = getattr(request, kind)
        if event_type is HeadersEvent:
            headers = {
                header.key: header.raw_value.decode("latin-1") if header.raw_value else header.value
                for header in payload.headers.headers
            }
            return HeadersEvent(phase, headers, bool(payload.end_of_stream))
        if event_type is BodyEvent:
            return BodyEvent(phase, bytes(payload.body), bool(payload.end_of_stream))
        return TrailersEvent(phase)

    def encode_answer(self, answer: ProcessingAnswer) -> bytes:
        reply = answer.reply
        if isinstance(reply, Immediate):
            return self._encode_immediate(reply)
        if (
            not reply.header_edit
            and not reply.clear_route_cache
            and reply.body is None
            and reply.response_body_mode is None
        ):
            return self._plain_continue[answer.phase]
        return self._encode_continue(answer.phase, reply)

    def _encode_continue(self, phase: Phase, reply: Continue) -> bytes:
        m = self._messages
        mutation = self._header_mutation(reply.header_edit) if reply.header_edit else None
        if phase in (Phase.REQUEST_TRAILERS, Phase.RESPONSE_TRAILERS):
            # Trailers replies carry no CommonResponse, so no route-cache flag either.
            phase_reply = m.TrailersResponse(header_mutation=mutation)
        else:
            body_mutation = m.BodyMutation(body=reply.body) if reply.body is not None else None
            common = (
                m.CommonResponse(
                    header_mutation=mutation,
                    body_mutation=body_mutation,
                    clear_route_cache=reply.clear_route_cache,
                )
                if mutation is not None or reply.clear_route_cache or body_mutation is not None
                else None
            )
            if phase in (Phase.REQUEST_HEADERS, Phase.RESPONSE_HEADERS):
                phase_reply = m.HeadersResponse(response=common)
            else:
                phase_reply = m.BodyResponse(response=common)
        response = m.ProcessingResponse(**{phase.value: phase_reply})
        if phase is Phase.RESPONSE_HEADERS and reply.response_body_mode is not None:
            response.mode_override.CopyFrom(self._mode_overrides[reply.response_body_mode])
        data: bytes = response.SerializeToString()
        return data

    def _encode_immediate(self, reply: Immediate) -> bytes:
        m = self._messages
        immediate = m.ImmediateResponse(
            status=m.HttpStatus(code=reply.status),
            headers=self._header_mutation(HeaderEdit(set_headers=reply.headers)),
            body=reply.body,
            details=reply.details,
        )
        data: bytes = m.ProcessingResponse(immediate_response=immediate).SerializeToString()
        return data

    def _header_mutation(self, edit: HeaderEdit) -> object:
        m = self._messages
        return m.HeaderMutation(
            set_headers=[
                m.HeaderValueOption(
                    header=m.HeaderValue(key=name, raw_value=value.encode("latin-1")),
                    append_action=self._overwrite_or_add,
                )
                for name, value in edit.set_headers
            ],
            remove_headers=list(edit.remove_headers),
        )

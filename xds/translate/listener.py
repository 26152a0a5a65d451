"""The `tollway_http` listener: connection manager → ext_proc → local_ratelimit → router, RDS over ADS."""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.accesslog.v3 import (
    AccessLogFilter,
    AndFilter,
    ComparisonFilter,
    ComparisonFilterOp,
    ExtensionFilter,
    OrFilter,
    ResponseFlagFilter,
    StatusCodeFilter,
)
from envoy_data_plane.envoy.config.core.v3 import (
    Address,
    GrpcService,
    GrpcServiceEnvoyGrpc,
    RuntimeUInt32,
    SocketAddress,
    SubstitutionFormatString,
)
from envoy_data_plane.envoy.config.listener.v3 import Filter, FilterChain, Listener
from envoy_data_plane.envoy.extensions.access_loggers.filters.cel.v3 import ExpressionFilter
from envoy_data_plane.envoy.extensions.filters.http.ext_proc.v3 import (
    ExternalProcessor,
    ProcessingMode,
    ProcessingModeBodySendMode,
    ProcessingModeHeaderSendMode,
)
from envoy_data_plane.envoy.extensions.filters.http.router.v3 import Router
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
    HttpConnectionManagerCodecType,
    HttpFilter,
    LocalReplyConfig,
    Rds,
    ResponseMapper,
)
from envoy_data_plane.envoy.type.v3 import HttpStatus, StatusCode
from envoy_data_plane.google.protobuf import Any, Struct

from xds.translate.config_source import ads_config_source
from xds.translate.options import TranslateOptions
from xds.translate.ratelimit import LOCAL_RATELIMIT_FILTER, listener_local_ratelimit
from xds.translate.route import ROUTE_CONFIG_NAME

__all__ = ["LISTENER_NAME", "http_listener", "local_reply_config"]

LISTENER_NAME = "tollway_http"
_STAT_PREFIX = "tollway"
_HCM = "envoy.filters.network.http_connection_manager"
_EXT_PROC = "envoy.filters.http.ext_proc"
_ROUTER = "envoy.filters.http.router"
_CEL_FILTER = "envoy.access_loggers.extension_filters.cel"
# Silence allowed between two bytes of a request without a route-level idle timeout (routes override it
# with the model's `traffic.timeouts.idle_s`).
_STREAM_IDLE_TIMEOUT = timedelta(minutes=5)
_REQUEST_HEADERS_TIMEOUT = timedelta(seconds=30)


def http_listener(options: TranslateOptions) -> Listener:
    return Listener(
        name=LISTENER_NAME,
        address=Address(
            socket_address=SocketAddress(address=options.listener_host, port_value=options.listener_port)
        ),
        per_connection_buffer_limit_bytes=options.max_request_bytes,
        filter_chains=[
            FilterChain(filters=[Filter(name=_HCM, typed_config=Any.pack(_connection_manager(options)))])
        ],
    )


def _connection_manager(options: TranslateOptions) -> HttpConnectionManager:
    return HttpConnectionManager(
        stat_prefix=_STAT_PREFIX,
        codec_type=HttpConnectionManagerCodecType.AUTO,
        rds=Rds(config_source=ads_config_source(), route_config_name=ROUTE_CONFIG_NAME),
        http_filters=[
            HttpFilter(name=_EXT_PROC, typed_config=Any.pack(_ext_proc(options))),
            # After ext_proc (which sets the tenant header), before the router; rules come with RDS.
            HttpFilter(name=LOCAL_RATELIMIT_FILTER, typed_config=Any.pack(listener_local_ratelimit())),
            HttpFilter(name=_ROUTER, typed_config=Any.pack(Router())),
        ],
        use_remote_address=True,
        generate_request_id=True,
        always_set_request_id_in_response=True,
        stream_idle_timeout=_STREAM_IDLE_TIMEOUT,
        request_headers_timeout=_REQUEST_HEADERS_TIMEOUT,
        request_timeout=timedelta(0),  # no total cap on a request: generations can run for many minutes
        local_reply_config=local_reply_config(),
    )


def _ext_proc(options: TranslateOptions) -> ExternalProcessor:
    """Headers and the buffered request body go to ext_proc, and the response headers, so that it picks
    the response body mode per request (`mode_override`: STREAMED or NONE)."""
    return ExternalProcessor(
        grpc_service=GrpcService(
            envoy_grpc=GrpcServiceEnvoyGrpc(
                cluster_name=options.ext_proc_cluster,
                # Deliberate rather than Envoy's "unlimited": a rewritten body comes back whole.
                max_receive_message_length=options.ext_proc_max_message_bytes,
            )
        ),
        failure_mode_allow=False,
        processing_mode=ProcessingMode(
            request_header_mode=ProcessingModeHeaderSendMode.SEND,
            request_body_mode=ProcessingModeBodySendMode.BUFFERED,
            request_trailer_mode=ProcessingModeHeaderSendMode.SKIP,
            response_header_mode=ProcessingModeHeaderSendMode.SEND,
            response_body_mode=ProcessingModeBodySendMode.NONE,
            response_trailer_mode=ProcessingModeHeaderSendMode.SKIP,
        ),
        message_timeout=timedelta(milliseconds=options.ext_proc_message_timeout_ms),
        max_message_timeout=timedelta(milliseconds=options.max_message_timeout_ms),
        allow_mode_override=True,
        status_on_error=HttpStatus(code=StatusCode.ServiceUnavailable),
    )


def _openai_error(
    error_type: str, *, message: str, code: str = "%RESPONSE_CODE_DETAILS%"
) -> SubstitutionFormatString:
    body = {"error": {"message": message, "type": error_type, "code": code, "param": None}}
    return SubstitutionFormatString(json_format=Struct.from_dict(body), content_type="application/json")


def _details(expression: str) -> AccessLogFilter:
    """Matches on `%RESPONSE_CODE_DETAILS%` (CEL), for Envoy's local replies that carry no response flag."""
    cel = ExpressionFilter(expression=expression)
    return AccessLogFilter(extension_filter=ExtensionFilter(name=_CEL_FILTER, typed_config=Any.pack(cel)))


def _any_flag(*flags: str) -> ResponseFlagFilter:
    return ResponseFlagFilter(flags=list(flags))  # no flags listed = any response flag


def _status_at_least(code: int) -> StatusCodeFilter:
    return StatusCodeFilter(
        comparison=ComparisonFilter(
            op=ComparisonFilterOp.GE,
            value=RuntimeUInt32(default_value=code, runtime_key="tollway.local_reply.server_error_status"),
        )
    )


def local_reply_config() -> LocalReplyConfig:
    """Envoy's own replies become OpenAI-style JSON; ext_proc's ImmediateResponse bodies pass untouched.

    Seen on Envoy 1.40: no route, upstream failures, timeouts and rate limits carry a response flag (NR,
    UF, UT, SI, RL, …); ImmediateResponse carries none, so flagged replies are rewritten. Two of Envoy's
    replies carry no flag either and are matched by their response code details instead: ext_proc being
    unreachable (`ext_proc_error_gRPC_error_…`, an empty 503 otherwise) and a body over the buffer limit
    (`request_payload_too_large`, a text/plain 413 otherwise; `response_payload_too_large`, a 500, for a
    buffered JSON response over the same limit). The local rate limit's 429 is matched
    by its details (`local_rate_limited`) too: the filter sets RL only after its reply was built.
    First matching mapper wins.
    """
    ext_proc_failed = _details("response.code_details.startsWith('ext_proc_error')")
    too_large = _details("response.code_details == 'request_payload_too_large'")
    response_too_large = _details("response.code_details == 'response_payload_too_large'")
    # Seen on 1.40: with the RL flag alone, local_ratelimit's 429 stayed a text/plain `local_rate_limited`.
    rate_limited = AccessLogFilter(
        or_filter=OrFilter(
            filters=[
                AccessLogFilter(response_flag_filter=_any_flag("RL")),
                _details("response.code_details == 'local_rate_limited'"),
            ]
        )
    )
    server_side = AccessLogFilter(
        and_filter=AndFilter(
            filters=[
                AccessLogFilter(response_flag_filter=_any_flag()),
                AccessLogFilter(status_code_filter=_status_at_least(500)),
            ]
        )
    )
    any_flagged = AccessLogFilter(response_flag_filter=_any_flag())
    return LocalReplyConfig(
        mappers=[
            ResponseMapper(
                filter=ext_proc_failed,
                body_format_override=_openai_error(
                    "server_error",
                    message="The gateway cannot process requests right now; retry later.",
                    code="gateway_unavailable",
                ),
            ),
            ResponseMapper(
                filter=too_large,
                body_format_override=_openai_error(
                    "invalid_request_error",
                    message="The request body is larger than this gateway accepts.",
                    code="request_too_large",
                ),
            ),
            # A JSON response is buffered for ext_proc (usage); one over the same limit fails with
            # Envoy's text/plain 500 unless mapped.
            ResponseMapper(
                filter=response_too_large,
                body_format_override=_openai_error(
                    "server_error",
                    message="The model's response is larger than this gateway accepts.",
                    code="response_too_large",
                ),
            ),
            ResponseMapper(
                filter=rate_limited,
                body_format_override=_openai_error(
                    "rate_limit_error", message="Rate limit reached; retry later.", code="rate_limited"
                ),
            ),
            # Upstream failures: Envoy's own text names hosts and socket errors; clients get a fixed
            # sentence, the details stay in Envoy's access log.
            ResponseMapper(
                filter=server_side,
                body_format_override=_openai_error(
                    "server_error",
                    message="The model server failed or could not be reached; retry later.",
                    code="upstream_unavailable",
                ),
            ),
            ResponseMapper(
                filter=any_flagged,
                body_format_override=_openai_error(
                    "invalid_request_error", message="The request could not be routed to a model."
                ),
            ),
        ]
    )

"""Server-wide settings of the mock upstream; every per-request knob has a default here."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from control_plane.demo.mock_upstream.reply import UsageMode

__all__ = ["BEHAVIOUR_FIELDS", "LogLevel", "MockUpstreamSettings"]

LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]

BEHAVIOUR_FIELDS = (
    "fail_status",
    "fail_times",
    "retry_after_s",
    "first_token_delay_ms",
    "inter_token_delay_ms",
    "tokens",
    "cut_after",
    "stall_after",
    "hold_headers",
)
"""The failure and timing defaults that `PUT /mock/behaviour` may replace while the server runs."""


class MockUpstreamSettings(BaseSettings):
    """One mock OpenAI server. Environment variables use the prefix `TOLLWAY_MOCK_` (`TOLLWAY_MOCK_PORT`).

    The failure and timing fields are defaults for every request; the `x-mock-*` request headers override
    them one by one.
    """

    model_config = SettingsConfigDict(env_prefix="TOLLWAY_MOCK_", extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=9000, ge=0, le=65535)
    name: str = Field(default="mock", min_length=1, description="sent back in `x-mock-backend` and replies")
    models: list[str] = Field(
        default_factory=lambda: ["mock-model"],
        description="listed by GET /v1/models; requests for any model are answered",
    )
    log_level: LogLevel = "warning"
    access_log: bool = False
    ssl_certfile: str | None = Field(
        default=None, min_length=1, description="PEM certificate (chain): serve HTTPS instead of HTTP"
    )
    ssl_keyfile: str | None = Field(default=None, min_length=1, description="PEM private key of ssl_certfile")

    first_token_delay_ms: int = Field(default=0, ge=0, description="wait before the first token")
    inter_token_delay_ms: int = Field(default=0, ge=0, description="wait between two tokens")
    tokens: int | None = Field(default=None, ge=0, description="reply length in words instead of the echo")
    fail_status: int | None = Field(default=None, ge=400, le=599, description="answer every request with it")
    fail_times: int | None = Field(
        default=None, ge=0, description="with fail_status: fail only the first N requests, then answer"
    )
    retry_after_s: int | None = Field(default=None, ge=0, description="`Retry-After` sent with failures")
    cut_after: int | None = Field(default=None, ge=0, description="close the connection after K chunks")
    stall_after: int | None = Field(default=None, ge=0, description="stop sending after K chunks")
    hold_headers: bool = Field(
        default=False, description="streams: send the response headers only with the first event"
    )
    usage: UsageMode = Field(default=UsageMode.REPORT, description="report, omit or zero the usage counts")
    cached_tokens: int | None = Field(
        default=None, ge=0, description="reported as usage.prompt_tokens_details.cached_tokens"
    )

    @model_validator(mode="after")
    def _tls_files_come_in_pairs(self) -> Self:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile must be given together")
        return self

"""ext_proc settings, from `TOLLWAY_EXT_PROC_*` environment variables or explicit values.

Built once by `ext_proc.__main__` (or a test) and passed in; nothing reads settings from a global.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from control_plane.model import (
    DEFAULT_MAX_REQUEST_BYTES,
    MAX_REQUEST_BYTES_CEILING,
    ext_proc_message_limit,
)

__all__ = [
    "CacheEmbedderKind",
    "ExtProcSettings",
    "JwtAlgorithm",
    "LogLevel",
    "QuotaFailureMode",
]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
QuotaFailureMode = Literal["closed", "local"]
JwtAlgorithm = Literal["RS256", "ES256"]
CacheEmbedderKind = Literal["onnx", "remote", "none"]


class ExtProcSettings(BaseSettings):
    """One ext_proc process. The launcher starts several, each on its own port."""

    model_config = SettingsConfigDict(env_prefix="TOLLWAY_EXT_PROC_", frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", description="address the gRPC server listens on")
    port: int = Field(
        default=18080, ge=0, le=65535, description="gRPC port of this process (0: any free port)"
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="registry snapshot and feed")
    max_request_bytes: int = Field(
        default=DEFAULT_MAX_REQUEST_BYTES,
        ge=1024,
        le=MAX_REQUEST_BYTES_CEILING,
        description="the gateway's body size limit, the same value as Envoy's buffer limit "
        "(TOLLWAY_XDS_MAX_REQUEST_BYTES; `tollway up` sets both from TOLLWAY_MAX_REQUEST_BYTES); "
        "Envoy and ext_proc accept gRPC messages of `ext_proc_message_limit` of it (twice, plus headroom)",
    )
    snapshot_wait_s: float = Field(
        default=10.0, ge=0.0, description="how long to wait for the first registry snapshot before serving"
    )
    shutdown_grace_s: float = Field(
        default=5.0, ge=0.0, description="time open streams get to finish on stop"
    )
    log_level: LogLevel = "INFO"
    use_uvloop: bool = True

    # --- response cache ----------------------------------------------------------------------------------
    cache_enabled: bool = Field(
        default=True, description="run the response cache (plans/tenants/models still decide who uses it)"
    )
    cache_redis_url: str | None = Field(
        default=None, description="Redis for cache entries and the index feed (None: `redis_url`)"
    )
    cache_redis_timeout_s: float = Field(
        default=0.25, gt=0.0, description="longest a cache read or write may take; slower is a miss"
    )
    cache_embedder: CacheEmbedderKind = Field(
        default="onnx",
        description="`onnx`: MiniLM in-process (offline); `remote`: an embeddings endpoint; "
        "`none`: exact layer only",
    )
    cache_embed_budget_s: float = Field(
        default=0.1, gt=0.0, description="longest an embedding may take; slower is a cache miss"
    )
    cache_embed_threads: int = Field(
        default=1, ge=1, le=16, description="worker threads of the onnx embedder"
    )
    cache_store_embed_budget_s: float = Field(
        default=1.0,
        gt=0.0,
        description="longest embedding a stored answer's prompt may take (its own embedder, so stores "
        "never take the lookups' budget or slots); slower: stored for the exact layer only",
    )
    cache_store_embed_max_in_flight: int = Field(
        default=2,
        ge=1,
        le=64,
        description="stored answers' prompts embedded at once; more: stored for the exact layer only",
    )
    cache_embedder_url: str | None = Field(
        default=None, description="`remote`: base URL of an OpenAI-compatible API (…/v1)"
    )
    cache_embedder_model: str = Field(default="text-embedding-3-small", description="`remote`: model name")
    cache_embedder_dimensions: int = Field(
        default=1536, ge=1, le=8192, description="`remote`: the endpoint's vector size"
    )
    cache_embedder_api_key: SecretStr | None = Field(default=None, description="`remote`: bearer key")
    cache_index_max_vectors: int = Field(
        default=200_000, ge=1, description="vectors this replica keeps in memory (oldest dropped first)"
    )
    cache_stats_interval_s: float = Field(
        default=1.0, gt=0.0, description="how often cache counters are written"
    )

    # --- governance: API keys -------------------------------------------------------------------------
    key_cache_size: int = Field(default=100_000, ge=1, description="API keys kept in the local LRU cache")
    key_negative_ttl_s: float = Field(
        default=2.0, ge=0.0, description="how long an unknown key is remembered as unknown (no Redis read)"
    )
    key_poll_interval_s: float = Field(
        default=0.5,
        gt=0.0,
        description="poll of the key version (safety net for lost pub/sub); any change drops the cache",
    )
    # --- governance: JWT -------------------------------------------------------------------------------
    jwt_enabled: bool = Field(default=False, description="accept bearer JWTs (3 dot-separated segments)")
    jwt_algorithms: tuple[JwtAlgorithm, ...] = Field(default=("RS256", "ES256"), min_length=1)
    jwt_jwks_path: Path | None = Field(default=None, description="JWKS JSON file (takes precedence over URL)")
    jwt_jwks_url: str | None = Field(default=None, description="JWKS URL, fetched with a timeout and cached")
    jwt_jwks_timeout_s: float = Field(default=2.0, gt=0.0, description="timeout of one JWKS fetch")
    jwt_jwks_min_refresh_s: float = Field(
        default=10.0, ge=0.0, description="least time between two JWKS reloads triggered by unknown kids"
    )
    jwt_issuer: str | None = Field(default=None, description="required `iss` (None: not checked)")
    jwt_audience: str | None = Field(default=None, description="required `aud` (None: not checked)")
    jwt_tenant_claim: str = Field(default="tenant", min_length=1, description="claim naming the tenant")
    jwt_leeway_s: float = Field(default=30.0, ge=0.0, description="clock skew allowed on exp/nbf/iat")
    # --- governance: quotas ----------------------------------------------------------------------------
    quota_failure_mode: QuotaFailureMode = Field(
        default="closed",
        description="Redis down: `closed` answers 503; `local` admits a per-replica share of each limit",
    )
    quota_degraded_replicas: int = Field(
        default=2, ge=1, description="`local` mode: each replica enforces limit / this (the replica count)"
    )
    lease_ttl_s: float = Field(
        default=60.0, gt=0.0, description="concurrency lease lifetime; renewed every third of it while alive"
    )
    reconcile_interval_s: float = Field(
        default=5.0, gt=0.0, description="how often expired leases (crashed replicas) are billed as lost"
    )
    reconcile_grace_s: float = Field(
        default=120.0,
        ge=0.0,
        description="a lease must be expired this long before the reconciler claims it; longer than a "
        "Redis outage you want to ride out, so the owner's renewal and spooled record win over an estimate",
    )
    # --- governance: billing ---------------------------------------------------------------------------
    ledger_dedupe_ttl_s: int = Field(
        default=7 * 86_400, ge=60, description="how long a billed request id is remembered (idempotency)"
    )
    ledger_queue_max: int = Field(
        default=100_000, ge=1, description="records queued in memory; beyond this they go to the spool"
    )
    spool_dir: Path = Field(
        default=Path("tollway-spool"),
        description="durable local spool for ledger records while Redis is down (one per process)",
    )
    spool_replay_interval_s: float = Field(
        default=1.0, gt=0.0, description="how often the spool is replayed to Redis when it holds records"
    )

    @property
    def max_message_bytes(self) -> int:
        """Largest gRPC message in either direction (`control_plane.model.ext_proc_message_limit`)."""
        return ext_proc_message_limit(self.max_request_bytes)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _remote_embedder_needs_url(self) -> ExtProcSettings:
        if self.cache_embedder == "remote" and not self.cache_embedder_url:
            raise ValueError("cache_embedder 'remote' needs cache_embedder_url")
        return self

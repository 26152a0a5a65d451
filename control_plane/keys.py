"""Every Redis/Valkey key family Tollway uses, in one place.

All keys carry a hash tag (`{...}`) so that one family lives in one Redis Cluster slot and multi-key
operations (MULTI, Lua) stay legal on a cluster. Everything about one tenant's quotas and billing
shares the tag `{t:<tenant>}`, so one Lua script can admit, settle and bill a request atomically.

| key | type | written by | read by |
|---|---|---|---|
| `tw:{registry}:snapshot` | string (JSON `Snapshot`) | control_plane.registry | xds, ext_proc, admin |
| `tw:{registry}:version` | string (integer) | control_plane.registry | control_plane.registry |
| `tw:{registry}:changes` | pub/sub channel (version as text) | control_plane.registry | xds, ext_proc |
| `tw:{xds}:nodes` | hash node_id → JSON `NodeStatus` | xds | admin (`tollway status`) |
| `tw:{keys}:by_hash` | hash secret sha-256 → JSON `ApiKey` | control_plane.keystore | ext_proc, admin |
| `tw:{keys}:by_id` | hash key id → secret sha-256 | control_plane.keystore | admin |
| `tw:{keys}:version` | string (integer), bumped by every key write | control_plane.keystore | ext_proc |
| `tw:{keys}:changes` | pub/sub channel (the changed key's sha-256) | control_plane.keystore | ext_proc |
| `tw:{registrations}:entries` | hash member → registration JSON | control_plane.registrations | xds, admin |
| `tw:{registrations}:expiry` | zset member → lease expiry (ms) | control_plane.registrations | xds, admin |
| `tw:{registrations}:changes` | pub/sub channel (a changed member) | control_plane.registrations | xds |
| `tw:{t:<tenant>}:rate` | hash: token-bucket levels + timestamps | ext_proc quota | ext_proc quota |
| `tw:{t:<tenant>}:inflight` | zset request id → lease expiry (ms) | ext_proc quota | ext_proc reconciler |
| `tw:{t:<tenant>}:resv` | hash request id → JSON reservation | ext_proc quota | ext_proc reconciler |
| `tw:{t:<tenant>}:usage:<period>` | hash of usage counters (`usage_field`) | ext_proc ledger | admin usage |
| `tw:{t:<tenant>}:ledger` | stream of `LedgerRecord` JSON (field `r`) | ext_proc ledger | admin usage |
| `tw:{t:<tenant>}:billed:<request id>` | string with a TTL: idempotency | ext_proc ledger | ext_proc ledger |
| `tw:{t:<tenant>}:cache:stats` | hash of cache counters (`CACHE_STAT_FIELDS`) | ext_proc cache | admin |
| `tw:{c:<namespace>}:gen` | string (integer): cache generation; purge bumps it | admin | ext_proc cache |
| `tw:{c:<namespace>}:e:<entry id>` | hash: one cached answer, with a TTL | ext_proc cache | ext_proc cache |
| `tw:{cache}:feed` | stream of index events (entry added, namespace purged) | ext_proc, admin | ext_proc |
| `tw:{admin}:users` | hash username → JSON `AdminUser` (argon2 hash, never a password) | admin | admin |
| `tw:{admin}:session:<sha-256>` | string (JSON session), TTL; keyed by the cookie's hash | admin | admin |
| `tw:{admin}:user_sessions:<username>` | set of a user's session hashes, TTL | admin | admin |
| `tw:{admin}:login:<username>` | string (integer) with a TTL: failed logins in the window | admin | admin |
| `tw:{admin}:login_ip:<ip>` | string (integer), TTL: failed logins per address (IPv6: /64) | admin | admin |
| `tw:{admin}:audit` | stream of `AuditEntry` JSON (field `a`) | admin | admin |
| `tw:{stats}:m:<YYYYMMDDHHMM>` | hash of traffic counters of one UTC minute, TTL | ext_proc ledger | admin |
| `tw:{stats}:h:<YYYYMMDDHH>` | hash of traffic counters of one UTC hour, TTL | ext_proc ledger | admin |
| `tw:{stats}:th:<YYYYMMDDHH>:<metric>` | zset tenant → requests, tokens or cost; TTL | ext_proc | admin |

`<period>` is a UTC month `YYYY-MM` or a UTC day `YYYY-MM-DD`. Usage hash fields are
`<model>|<price version>|<metric>` (per model and price version) and `*|*|<metric>` (tenant totals),
with the metrics in `USAGE_METRICS`; model names cannot contain `|`.
A cache namespace (`cache_namespace`) is `t.<tenant>` (a tenant's own entries) or `s.<name>` (a shared
namespace tenants opt into); an entry id is the sha-256 (hex) of its canonical request.
Traffic hash fields (`TRAFFIC_FIELDS`, `traffic_model_field`, `traffic_latency_field`) are described
in `ext_proc.governance.traffic_stats`; `<metric>` of a tenant zset is one of `TRAFFIC_TENANT_METRICS`.
A registration member is `<model>|<backend name>` (`registration_member`); neither can contain `|`.
"""

from __future__ import annotations

__all__ = [
    "ADMIN_AUDIT",
    "ADMIN_USERS",
    "CACHE_FEED",
    "CACHE_STAT_FIELDS",
    "KEYS_BY_HASH",
    "KEYS_BY_ID",
    "KEYS_CHANGES",
    "KEYS_VERSION",
    "REGISTRATIONS_CHANGES",
    "REGISTRATIONS_ENTRIES",
    "REGISTRATIONS_EXPIRY",
    "REGISTRY_CHANGES",
    "REGISTRY_SNAPSHOT",
    "REGISTRY_VERSION",
    "TOTAL",
    "TRAFFIC_FIELDS",
    "TRAFFIC_HOUR_TTL_S",
    "TRAFFIC_MINUTE_TTL_S",
    "TRAFFIC_TENANT_METRICS",
    "USAGE_METRICS",
    "XDS_NODES",
    "admin_login_failures",
    "admin_login_failures_ip",
    "admin_session",
    "admin_user_sessions",
    "cache_entry",
    "cache_generation",
    "cache_namespace",
    "registration_member",
    "tenant_billed",
    "tenant_cache_stats",
    "tenant_inflight",
    "tenant_ledger",
    "tenant_rate",
    "tenant_reservations",
    "tenant_usage",
    "traffic_hour",
    "traffic_latency_field",
    "traffic_minute",
    "traffic_model_field",
    "traffic_tenant_top",
    "usage_field",
]

REGISTRY_SNAPSHOT = "tw:{registry}:snapshot"
REGISTRY_VERSION = "tw:{registry}:version"
REGISTRY_CHANGES = "tw:{registry}:changes"
XDS_NODES = "tw:{xds}:nodes"

KEYS_BY_HASH = "tw:{keys}:by_hash"
KEYS_BY_ID = "tw:{keys}:by_id"
KEYS_VERSION = "tw:{keys}:version"
KEYS_CHANGES = "tw:{keys}:changes"

REGISTRATIONS_ENTRIES = "tw:{registrations}:entries"
REGISTRATIONS_EXPIRY = "tw:{registrations}:expiry"
REGISTRATIONS_CHANGES = "tw:{registrations}:changes"

USAGE_METRICS = (
    "requests",  # ledger records (every outcome)
    "billable_requests",  # records that were charged (per-call billing counts these)
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_pico",  # what the records added to spend, in pico-units
    "estimated_requests",  # records whose tokens are the gateway's estimate
)
TOTAL = "*"

CACHE_FEED = "tw:{cache}:feed"
ADMIN_USERS = "tw:{admin}:users"
ADMIN_AUDIT = "tw:{admin}:audit"
CACHE_STAT_FIELDS = (
    "hits_exact",  # answered by the exact layer
    "hits_semantic",  # answered by the semantic layer
    "misses",  # looked up, not found: went upstream
    "bypasses",  # not looked up (no-cache / no-store, caching off, a request the cache never serves)
    "stored",  # answers written to the cache
    "saved_prompt_tokens",  # upstream tokens hits did not spend
    "saved_completion_tokens",
    "saved_cost_pico",  # what hits would have cost at the model's full price, minus what they were billed
)


def _tenant(tenant: str) -> str:
    return f"tw:{{t:{tenant}}}"


def tenant_rate(tenant: str) -> str:
    return f"{_tenant(tenant)}:rate"


def tenant_inflight(tenant: str) -> str:
    return f"{_tenant(tenant)}:inflight"


def tenant_reservations(tenant: str) -> str:
    return f"{_tenant(tenant)}:resv"


def tenant_usage(tenant: str, period: str) -> str:
    """`period` is `YYYY-MM` (month) or `YYYY-MM-DD` (day), UTC."""
    return f"{_tenant(tenant)}:usage:{period}"


def tenant_ledger(tenant: str) -> str:
    return f"{_tenant(tenant)}:ledger"


def tenant_billed(tenant: str, request_id: str) -> str:
    return f"{_tenant(tenant)}:billed:{request_id}"


def usage_field(model: str, price_version: str, metric: str) -> str:
    """A usage hash field; `usage_field(TOTAL, TOTAL, metric)` is the tenant's total."""
    return f"{model}|{price_version}|{metric}"


def registration_member(model: str, backend: str) -> str:
    """The field/member naming one registration in the `tw:{registrations}:*` hash and zset."""
    return f"{model}|{backend}"


def tenant_cache_stats(tenant: str) -> str:
    return f"{_tenant(tenant)}:cache:stats"


def cache_namespace(tenant: str, shared: str | None = None) -> str:
    """The namespace a tenant's cache entries live in: its own, or the shared one it opted into."""
    return f"s.{shared}" if shared is not None else f"t.{tenant}"


def _cache(namespace: str) -> str:
    return f"tw:{{c:{namespace}}}"


def cache_generation(namespace: str) -> str:
    return f"{_cache(namespace)}:gen"


def cache_entry(namespace: str, entry_id: str) -> str:
    return f"{_cache(namespace)}:e:{entry_id}"


def admin_session(session_hash: str) -> str:
    """A UI session, by the sha-256 (hex) of its cookie value (the cookie itself is never stored)."""
    return f"tw:{{admin}}:session:{session_hash}"


def admin_user_sessions(username: str) -> str:
    """The set of one UI user's session hashes, so that all of them can be ended at once."""
    return f"tw:{{admin}}:user_sessions:{username}"


def admin_login_failures(username: str) -> str:
    return f"tw:{{admin}}:login:{username}"


def admin_login_failures_ip(ip: str) -> str:
    """Failed UI logins from one client address (an IPv6 address counts as its /64 network)."""
    return f"tw:{{admin}}:login_ip:{ip}"


TRAFFIC_FIELDS = (
    "requests",  # ledger records (every outcome)
    "errors",  # upstream_error, incomplete, upstream_cut, lost
    "rejected",  # refused by the gateway
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cost_pico",
)
"""Counters of every traffic bucket hash (besides the per-model and latency fields)."""
TRAFFIC_TENANT_METRICS = ("requests", "tokens", "cost")
"""The per-hour tenant sorted sets: requests, prompt + completion tokens, cost in pico-units."""
TRAFFIC_MINUTE_TTL_S = 2 * 3_600 + 600
TRAFFIC_HOUR_TTL_S = 8 * 86_400


def traffic_minute(minute: str) -> str:
    """Traffic counters of one UTC minute, `minute` as `YYYYMMDDHHMM`."""
    return f"tw:{{stats}}:m:{minute}"


def traffic_hour(hour: str) -> str:
    """Traffic counters of one UTC hour, `hour` as `YYYYMMDDHH`."""
    return f"tw:{{stats}}:h:{hour}"


def traffic_tenant_top(hour: str, metric: str) -> str:
    """Tenants of one UTC hour ranked by `metric` (one of `TRAFFIC_TENANT_METRICS`)."""
    return f"tw:{{stats}}:th:{hour}:{metric}"


def traffic_model_field(model: str, metric: str) -> str:
    """A per-model field of a traffic hash: `m|<model>|<requests, tokens, cost_pico or errors>`."""
    return f"m|{model}|{metric}"


def traffic_latency_field(index: int) -> str:
    """The latency histogram bucket `index` of a traffic hash (`LATENCY_BUCKETS_MS[index]`; the last
    index, `len(LATENCY_BUCKETS_MS)`, counts everything slower)."""
    return f"lat|{index}"

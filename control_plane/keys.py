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

`<period>` is a UTC month `YYYY-MM` or a UTC day `YYYY-MM-DD`. Usage hash fields are
`<model>|<price version>|<metric>` (per model and price version) and `*|*|<metric>` (tenant totals),
with the metrics in `USAGE_METRICS`; model names cannot contain `|`.
A registration member is `<model>|<backend name>` (`registration_member`); neither can contain `|`.
"""

from __future__ import annotations

__all__ = [
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
    "USAGE_METRICS",
    "XDS_NODES",
    "registration_member",
    "tenant_billed",
    "tenant_inflight",
    "tenant_ledger",
    "tenant_rate",
    "tenant_reservations",
    "tenant_usage",
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

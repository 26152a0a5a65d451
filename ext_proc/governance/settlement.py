"""The data a SETTLE script run needs, built in Python: keys, arguments, the ledger record's JSON.

A `SettleCommand` is plain strings, so the ledger writer can run it, spool it to disk as one JSON line
and replay it later unchanged (the script's `billed` key makes every run after the first a no-op).

Billing rules (`cost_for`), per `plan.billing.kind`:
- per_token: `token_cost_pico(price at started_at, actual tokens)`; a cache hit: its tokens at the
  price's `cache_hit_per_1m_micro` (a free hit carries no tokens);
- per_call: `price_per_call_micro * PICO_PER_MICRO` when the outcome is OK, else 0;
- monthly: only overage, computed inside the script from the tenant's month token total (the
  argument is left empty). Explicit zero usage is billed as zero; estimates are used only when the
  result says `estimated`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from control_plane.keys import (
    tenant_billed,
    tenant_inflight,
    tenant_ledger,
    tenant_rate,
    tenant_reservations,
    tenant_usage,
    usage_field,
)
from control_plane.model import (
    PICO_PER_MICRO,
    BillingKind,
    Limits,
    Plan,
    Price,
    RequestOutcome,
    cache_hit_cost_pico,
    token_cost_pico,
)
from ext_proc.governance.quota_scripts import USAGE_DAY_TTL_S, USAGE_MONTH_TTL_S

__all__ = [
    "BILLABLE_OUTCOMES",
    "BillingTerms",
    "RecordFields",
    "SettleCommand",
    "cost_for",
    "opt_limit",
    "period_keys",
    "settle_command",
]

BILLABLE_OUTCOMES = frozenset(
    {
        RequestOutcome.OK,
        RequestOutcome.INCOMPLETE,
        RequestOutcome.UPSTREAM_CUT,
        RequestOutcome.LOST,
        RequestOutcome.CACHE_HIT,
    }
)
"""Outcomes whose tokens are charged (token-priced plans); per-call plans charge OK only."""


def opt_limit(value: int | None) -> str:
    """A limit as a script argument: '' for none."""
    return "" if value is None else str(value)


def period_keys(tenant: str, when: datetime) -> tuple[str, str]:
    """The tenant's usage hashes for the UTC month and day of `when`."""
    utc = when.astimezone(UTC)
    return tenant_usage(tenant, f"{utc:%Y-%m}"), tenant_usage(tenant, f"{utc:%Y-%m-%d}")


@dataclass(frozen=True, slots=True)
class BillingTerms:
    """What the scripts need to price a request: the plan's kind and its numbers."""

    kind: BillingKind
    price_per_call_micro: int = 0
    included_tokens: int = 0
    overage_per_1m_micro: int = 0

    @classmethod
    def of(cls, plan: Plan) -> BillingTerms:
        b = plan.billing
        return cls(b.kind, b.price_per_call_micro, b.included_tokens, b.overage_per_1m_micro)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "per_call": self.price_per_call_micro,
            "included": self.included_tokens,
            "overage": self.overage_per_1m_micro,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BillingTerms:
        def integer(name: str) -> int:
            value = data.get(name, 0)
            return value if isinstance(value, int) else 0

        return cls(
            BillingKind(str(data["kind"])), integer("per_call"), integer("included"), integer("overage")
        )


def cost_for(
    terms: BillingTerms,
    price: Price | None,
    *,
    outcome: RequestOutcome,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
) -> tuple[str, int]:
    """(cost in pico as text — '' = monthly overage computed by the script, billable 0/1)."""
    tokens = prompt_tokens + completion_tokens
    if terms.kind is BillingKind.PER_CALL:
        ok = outcome is RequestOutcome.OK
        return (str(terms.price_per_call_micro * PICO_PER_MICRO) if ok else "0"), int(ok)
    billable = int(outcome in BILLABLE_OUTCOMES and tokens > 0)
    if terms.kind is BillingKind.MONTHLY:
        return "", billable
    if outcome is RequestOutcome.CACHE_HIT:  # tokens are 0 for free hits (see HitBilling)
        return str(cache_hit_cost_pico(price, tokens=tokens)), billable
    cost = token_cost_pico(
        price, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cached_tokens=cached_tokens
    )
    return str(cost), billable


@dataclass(frozen=True, slots=True)
class RecordFields:
    """A ledger record without its cost (the script appends `cost_pico` last)."""

    request_id: str
    tenant: str
    key_id: str
    model: str
    outcome: RequestOutcome
    started_at: datetime
    finished_at: datetime
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    price_version: str = ""
    status_code: int = 0
    error_code: str = ""
    stream: bool = False
    cache_hit: bool = False
    estimated: bool = False
    backend: str = ""

    def _fields(self) -> dict[str, object]:
        return {
            "request_id": self.request_id,
            "tenant": self.tenant,
            "key_id": self.key_id,
            "model": self.model,
            "backend": self.backend,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": min(self.cached_tokens, self.prompt_tokens),
            "price_version": self.price_version,
            "outcome": self.outcome.value,
            "status_code": self.status_code,
            "stream": self.stream,
            "cache_hit": self.cache_hit,
            "estimated": self.estimated,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    def cost_prefix(self) -> str:
        """The record's JSON up to its last value: the script appends the cost and `}`."""
        body = orjson.dumps({**self._fields(), "error_code": self.error_code})
        return body[:-1].decode() + ',"cost_pico":'

    def error_code_affixes(self) -> tuple[str, str]:
        """The JSON of a zero-cost record around its `error_code` value (the script picks the code)."""
        body = orjson.dumps({**self._fields(), "cost_pico": 0})
        return body[:-1].decode() + ',"error_code":"', '"}'


@dataclass(frozen=True, slots=True)
class SettleCommand:
    """One SETTLE script run: its keys and arguments (all text, JSON-serializable for the spool)."""

    tenant: str
    request_id: str
    keys: tuple[str, ...]
    args: tuple[str, ...]

    def to_line(self) -> bytes:
        return orjson.dumps({"t": self.tenant, "i": self.request_id, "k": self.keys, "a": self.args})

    @classmethod
    def from_line(cls, line: bytes) -> SettleCommand:
        data = orjson.loads(line)
        return cls(data["t"], data["i"], tuple(data["k"]), tuple(data["a"]))


def settle_command(
    record: RecordFields,
    *,
    limits: Limits,
    terms: BillingTerms,
    cost: str,
    billable: int,
    dedupe_ttl_s: int,
    reclaim_grace_ms: int | None = None,
) -> SettleCommand:
    """The SETTLE run for `record` ('reclaim' mode when `reclaim_grace_ms` is given)."""
    tenant, rid = record.tenant, record.request_id
    month, day = period_keys(tenant, record.started_at)
    keys = (
        tenant_billed(tenant, rid),
        tenant_rate(tenant),
        tenant_inflight(tenant),
        tenant_reservations(tenant),
        month,
        day,
        tenant_ledger(tenant),
    )
    args = (
        rid,
        "finish" if reclaim_grace_ms is None else "reclaim",
        str(reclaim_grace_ms or 0),
        str(dedupe_ttl_s),
        opt_limit(limits.input_tokens_per_minute),
        opt_limit(limits.output_tokens_per_minute),
        opt_limit(limits.tokens_per_minute),
        str(record.prompt_tokens),
        str(record.completion_tokens),
        str(min(record.cached_tokens, record.prompt_tokens)),
        cost,
        str(terms.included_tokens),
        str(terms.overage_per_1m_micro),
        str(billable),
        str(int(record.estimated)),
        usage_field(record.model, record.price_version, ""),
        record.cost_prefix(),
        str(USAGE_MONTH_TTL_S),
        str(USAGE_DAY_TTL_S),
    )
    return SettleCommand(tenant=tenant, request_id=rid, keys=keys, args=args)

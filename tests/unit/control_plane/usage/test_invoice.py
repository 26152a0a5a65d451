"""Invoice math, hand-computed: per_token (two price versions of one model), per_call, monthly."""

import csv
import io

import pytest

from control_plane.errors import UsagePeriodError
from control_plane.keys import TOTAL, usage_field
from control_plane.model import Billing, BillingKind, Plan
from control_plane.usage import (
    CSV_COLUMNS,
    LineKind,
    build_invoice,
    format_micro,
    invoice_csv,
    invoice_json,
    pico_to_micro,
)

V1 = "2026-01-01T00:00:00+00:00"
V2 = "2026-11-15T00:00:00+00:00"


def _fields(model: str, version: str, **metrics: int) -> dict[str, int]:
    return {usage_field(model, version, metric): value for metric, value in metrics.items()}


def test_rounding_and_formatting() -> None:
    assert [pico_to_micro(p) for p in (0, 499_999, 500_000, 1_499_999, 1_500_000)] == [0, 0, 1, 1, 2]
    assert format_micro(0) == "0.00"
    assert format_micro(1_500_000) == "1.50"
    assert format_micro(1) == "0.000001"
    assert format_micro(10_003_000) == "10.003"
    assert format_micro(-250_000) == "-0.25"


def test_per_token_with_two_price_versions_rounds_once_per_line() -> None:
    plan = Plan(name="payg")
    usage = {
        # v1: input $1/1M, cached $0.50/1M, output $2/1M; 1200 prompt of which 200 cached, 300 completion:
        # 1000*1_000_000 + 200*500_000 + 300*2_000_000 = 1_700_000_000 pico = 1700 micro
        **_fields("llama", V1, requests=4, billable_requests=4, prompt_tokens=1200, cached_tokens=200,
                  completion_tokens=300, cost_pico=1_700_000_000),
        # v2: input $1.50/1M, output $3/1M: 333*1_500_000 + 111*3_000_000 = 832_500_000 pico = 832.5 → 833
        **_fields("llama", V2, requests=2, billable_requests=2, prompt_tokens=333, completion_tokens=111,
                  cost_pico=832_500_000, estimated_requests=1),
        # 0.5 micro → 1 (rounded per line: the total is 2534, not round(2_533_000_000 pico) = 2533)
        **_fields("qwen", V1, requests=1, billable_requests=1, prompt_tokens=1, cost_pico=500_000),
        **_fields(TOTAL, TOTAL, requests=7, cost_pico=2_533_000_000),
        "garbage": 5,
        "llama|v|unknown_metric": 9,
    }  # fmt: skip
    invoice = build_invoice("acme", plan, "2026-11", usage)
    assert [(line.model, line.price_version, line.cost_micro) for line in invoice.lines] == [
        ("llama", V1, 1700),
        ("llama", V2, 833),
        ("qwen", V1, 1),
    ]
    first = invoice.lines[0]
    assert (first.requests, first.prompt_tokens, first.cached_tokens, first.completion_tokens) == (
        4,
        1200,
        200,
        300,
    )
    assert invoice.lines[1].estimated_requests == 1
    assert invoice.total_micro == 2534
    assert invoice.total == "0.002534"
    assert invoice.billing is BillingKind.PER_TOKEN
    assert (invoice.included_tokens, invoice.overage_tokens) == (None, None)
    assert invoice.used_tokens == 1200 + 300 + 333 + 111 + 1


def test_per_call_counts_billable_requests() -> None:
    plan = Plan(name="calls", billing=Billing(kind=BillingKind.PER_CALL, price_per_call_micro=2000))
    # 7 requests, 5 billable at $0.002: 5 * 2000 micro = 10_000 micro = 10_000_000_000 pico
    usage = _fields("llama", V1, requests=7, billable_requests=5, prompt_tokens=900, completion_tokens=90,
                    cost_pico=10_000_000_000)  # fmt: skip
    invoice = build_invoice("acme", plan, "2026-11", usage)
    assert [(line.billable_requests, line.cost_micro, line.amount) for line in invoice.lines] == [
        (5, 10_000, "0.01")
    ]
    assert invoice.total == "0.01"


def test_monthly_with_overage_adds_the_fee_and_shows_tokens() -> None:
    billing = Billing(
        kind=BillingKind.MONTHLY,
        monthly_fee_micro=10_000_000,
        included_tokens=1000,
        overage_per_1m_micro=5_000_000,
    )
    plan = Plan(name="team", billing=billing)
    usage = {
        # 1100 tokens, the last 100 over the 1000 included: 100 * 5_000_000 = 500_000_000 pico = 500 micro
        **_fields("llama", V1, requests=3, billable_requests=3, prompt_tokens=800, completion_tokens=300,
                  cost_pico=500_000_000),
        # 500 more tokens, all overage: 500 * 5_000_000 = 2_500_000_000 pico = 2500 micro
        **_fields("llama", V2, requests=1, billable_requests=1, prompt_tokens=400, completion_tokens=100,
                  cost_pico=2_500_000_000),
    }  # fmt: skip
    invoice = build_invoice("acme", plan, "2026-11", usage)
    assert [line.kind for line in invoice.lines] == [LineKind.MONTHLY_FEE, LineKind.USAGE, LineKind.USAGE]
    assert invoice.lines[0].cost_micro == 10_000_000
    assert (invoice.included_tokens, invoice.used_tokens, invoice.overage_tokens) == (1000, 1600, 600)
    assert invoice.total_micro == 10_000_000 + 500 + 2500
    assert invoice.total == "10.003"
    quiet = build_invoice("acme", plan, "2026-10", {})
    assert (quiet.total, quiet.overage_tokens) == ("10.00", 0)


def test_renderers() -> None:
    plan = Plan(name="calls", billing=Billing(kind=BillingKind.PER_CALL, price_per_call_micro=2000))
    invoice = build_invoice("acme", plan, "2026-11", _fields("m", V1, requests=1, billable_requests=1,
                                                             cost_pico=2_000_000_000))  # fmt: skip
    rows = list(csv.reader(io.StringIO(invoice_csv(invoice))))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1] == ["usage", "m", V1, "1", "1", "0", "0", "0", "0", "2000", "0.002"]
    assert rows[2] == ["total", "", "", "", "", "", "", "", "", "2000", "0.002"]
    assert len(rows) == 3
    assert '"total_micro": 2000' in invoice_json(invoice)


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-11", "2026-11-01", ""])
def test_bad_months_are_refused(month: str) -> None:
    with pytest.raises(UsagePeriodError, match="YYYY-MM"):
        build_invoice("acme", Plan(name="p"), month, {})

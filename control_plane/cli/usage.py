"""`tollway usage`: a tenant's invoice for one month (table, CSV or JSON)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from control_plane.cli.connection import AdminUrlOpt, JsonOpt, StateDirOpt, TokenOpt, admin
from control_plane.cli.output import print_json, print_table

__all__ = ["UsageFormat", "usage"]


class UsageFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def usage(
    tenant: Annotated[str, typer.Option(help="tenant id")],
    month: Annotated[str | None, typer.Option(help="UTC month YYYY-MM (default: this month)")] = None,
    format_: Annotated[UsageFormat, typer.Option("--format", help="table, csv or json")] = UsageFormat.TABLE,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A tenant's usage and cost for a month: one line per model and price version, and the total."""
    period = month or datetime.now(UTC).strftime("%Y-%m")
    with admin(state_dir, admin_url, token) as client:
        if format_ is UsageFormat.CSV and not as_json:
            typer.echo(client.usage_csv(tenant, period), nl=False)
            return
        invoice = client.usage(tenant, period)
    if as_json or format_ is UsageFormat.JSON:
        print_json(invoice)
        return
    rows = [
        (line["kind"], line["model"] or "-", line["price_version"] or "-", line["requests"],
         line["prompt_tokens"], line["cached_tokens"], line["completion_tokens"], line["amount"])
        for line in invoice["lines"]
    ]  # fmt: skip
    print_table(("LINE", "MODEL", "PRICE FROM", "REQUESTS", "PROMPT", "CACHED", "COMPLETION", "AMOUNT"), rows)
    if invoice["included_tokens"] is not None:
        typer.echo(
            f"tokens: {invoice['used_tokens']} used of {invoice['included_tokens']} included, "
            f"{invoice['overage_tokens']} overage"
        )
    typer.echo(f"total for {invoice['tenant']} ({invoice['plan']}, {invoice['month']}): {invoice['total']}")

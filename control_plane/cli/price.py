"""`tollway prices list|add|rm`. Prices are typed in currency units per 1M tokens (e.g. 0.15)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from control_plane.cli.connection import AdminUrlOpt, JsonOpt, StateDirOpt, TokenOpt, admin, fail
from control_plane.cli.output import print_json, print_table, print_write
from control_plane.model import Price
from control_plane.usage import format_micro

__all__ = ["app", "to_micro"]

app = typer.Typer(help="List, add and remove model prices (versioned by --from).", no_args_is_help=True)

_MICRO = Decimal(1_000_000)


def to_micro(text: str) -> int:
    """A decimal amount of currency as integer micro-units, exactly (more than 6 decimals is refused)."""
    try:
        value = Decimal(text.strip()) * _MICRO
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal amount like 0.15") from None
    if value < 0 or value != value.to_integral_value():
        raise ValueError(f"{text!r} must be ≥ 0 with at most 6 decimals")
    return int(value)


def _when(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--from {text!r} is not an ISO 8601 time like 2026-01-01T00:00:00+00:00")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@app.command("list")
def prices_list(
    model: Annotated[str | None, typer.Option(help="only this model")] = None,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List price versions (currency units per 1M tokens)."""
    with admin(state_dir, admin_url, token) as client:
        result = client.prices(model)
    if as_json:
        print_json(result)
        return
    rows = [
        (p["model"], p["effective_from"], format_micro(p["input_per_1m_micro"]),
         format_micro(p["cached_input_per_1m_micro"]), format_micro(p["output_per_1m_micro"]))
        for p in result["prices"]
    ]  # fmt: skip
    print_table(("MODEL", "FROM", "INPUT/1M", "CACHED/1M", "OUTPUT/1M"), rows)


@app.command("add")
def prices_add(
    model: Annotated[str, typer.Option(help="model name (not an alias)")],
    input_price: Annotated[str, typer.Option("--input", help="per 1M input tokens, e.g. 0.15")],
    output_price: Annotated[str, typer.Option("--output", help="per 1M output tokens, e.g. 0.60")],
    cached_input: Annotated[str, typer.Option(help="per 1M cached input tokens")] = "0",
    from_: Annotated[str | None, typer.Option("--from", help="ISO 8601 start (default: now, UTC)")] = None,
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a price version for MODEL from --from on (replaces a version with the same start)."""
    try:
        price = Price(
            model=model,
            effective_from=_when(from_),
            input_per_1m_micro=to_micro(input_price),
            output_per_1m_micro=to_micro(output_price),
            cached_input_per_1m_micro=to_micro(cached_input),
        )
    except (ValueError, ValidationError) as exc:
        fail(str(exc))
    with admin(state_dir, admin_url, token) as client:
        result = client.put_price(price)
    print_write(result, as_json, f"price of {model} from {price.version}")


@app.command("rm")
def prices_rm(
    model: Annotated[str, typer.Option(help="model name")],
    from_: Annotated[str, typer.Option("--from", help="the version's ISO 8601 start")],
    state_dir: StateDirOpt = Path(".tollway"),
    admin_url: AdminUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove one price version."""
    when = _when(from_)
    with admin(state_dir, admin_url, token) as client:
        result = client.remove_price(model, when)
    print_write(result, as_json, f"price of {model} from {when.isoformat()}", verb="removed")

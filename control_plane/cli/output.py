"""How the CLI prints: JSON for scripts (`--json`), short aligned text for people."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import typer

__all__ = ["print_json", "print_table", "print_write"]


def print_json(value: object) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def print_write(result: Mapping[str, Any], as_json: bool, what: str, *, verb: str | None = None) -> None:
    """The answer to a registry write: JSON, or `<verb>: <what> (registry version N)`.

    `verb` defaults to "added", or "unchanged" when the write changed nothing.
    """
    if as_json:
        print_json(result)
        return
    verb = verb or ("added" if result["changed"] else "unchanged")
    typer.echo(f"{verb}: {what} (registry version {result['version']})")

"""Invoices as JSON (the `Invoice` model) and CSV (a header, one row per line, a total row)."""

from __future__ import annotations

import csv
import io

from control_plane.usage.invoice import Invoice

__all__ = ["CSV_COLUMNS", "invoice_csv", "invoice_json"]

CSV_COLUMNS = (
    "kind",
    "model",
    "price_version",
    "requests",
    "billable_requests",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "estimated_requests",
    "cost_micro",
    "amount",
)


def invoice_json(invoice: Invoice) -> str:
    return invoice.model_dump_json(indent=2)


def invoice_csv(invoice: Invoice) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in invoice.lines:
        row = line.model_dump(mode="json")
        writer.writerow([row[column] for column in CSV_COLUMNS])
    blanks = [""] * (len(CSV_COLUMNS) - 3)
    writer.writerow(["total", *blanks, invoice.total_micro, invoice.total])
    return buffer.getvalue()

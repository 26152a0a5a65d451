"""Usage counters and invoices. Only control-plane processes (admin) import this package."""

from control_plane.usage.invoice import (
    Invoice,
    InvoiceLine,
    LineKind,
    build_invoice,
    format_micro,
    pico_to_micro,
)
from control_plane.usage.reader import RedisUsageReader, check_month
from control_plane.usage.render import CSV_COLUMNS, invoice_csv, invoice_json

__all__ = [
    "CSV_COLUMNS",
    "Invoice",
    "InvoiceLine",
    "LineKind",
    "RedisUsageReader",
    "build_invoice",
    "check_month",
    "format_micro",
    "invoice_csv",
    "invoice_json",
    "pico_to_micro",
]

"""Governance on the hot path: who calls (auth), how much they may (quotas), what it costs (ledger)."""

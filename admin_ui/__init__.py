"""Tollway's admin API (JSON, OpenAPI) and, later, the admin UI."""

__all__: list[str] = []

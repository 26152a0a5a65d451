"""Tollway's control plane: the domain model, the registry and the operator tools."""

__all__: list[str] = []

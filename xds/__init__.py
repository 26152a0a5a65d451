"""Tollway's xDS control plane: registry snapshot → Envoy resources, served over SotW ADS (grpcio)."""

__all__: list[str] = []

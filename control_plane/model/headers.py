"""Headers the gateway owns. Clients' copies of any `x-tollway-*` header are stripped on arrival."""

from __future__ import annotations

__all__ = ["GATEWAY_HEADER_PREFIX", "MODEL_HEADER"]

GATEWAY_HEADER_PREFIX = "x-tollway-"
# Set by ext_proc from the request body's model (canonical name); Envoy's routes match on it.
MODEL_HEADER = "x-tollway-model"

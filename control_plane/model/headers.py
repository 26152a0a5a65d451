"""Headers the gateway owns. Clients' copies of any `x-tollway-*` header are stripped on arrival."""

from __future__ import annotations

__all__ = [
    "BACKEND_HEADER",
    "CACHE_HEADER",
    "CACHE_LAYER_HEADER",
    "CACHE_SIMILARITY_HEADER",
    "CLIENT_CREDENTIAL_HEADERS",
    "GATEWAY_HEADER_PREFIX",
    "MODEL_HEADER",
    "STREAM_HEADER",
    "TENANT_HEADER",
    "gateway_managed_header",
]

GATEWAY_HEADER_PREFIX = "x-tollway-"
# Set by ext_proc from the request body's model (canonical name); Envoy's routes match on it.
MODEL_HEADER = "x-tollway-model"
# Set by ext_proc once a request is authenticated; Envoy's per-tenant local rate limit keys on it.
TENANT_HEADER = "x-tollway-tenant"
# Added by Envoy to upstream responses from the endpoint's metadata (the registry's backend name);
# ext_proc reads it for the ledger and removes it before the client sees the response.
BACKEND_HEADER = "x-tollway-backend"
# Set by ext_proc to "1" on `stream: true` requests; Envoy routes streams to a route with a
# time-to-first-byte per-try timeout (a non-streamed answer may legitimately take minutes).
STREAM_HEADER = "x-tollway-stream"
# On every chat-completion response of a gateway that runs the cache: `hit`, `miss` or `bypass` (not looked
# up: no-cache / no-store, caching off for the tenant or model, or a request the cache never serves).
CACHE_HEADER = "x-tollway-cache"
# On hits: which layer answered (`exact` or `semantic`), and for semantic hits the cosine similarity.
CACHE_LAYER_HEADER = "x-tollway-cache-layer"
CACHE_SIMILARITY_HEADER = "x-tollway-cache-similarity"
# Where clients put their Tollway key; never forwarded to a model server (the gateway's own upstream
# credential, if any, is added by Envoy after these are removed).
CLIENT_CREDENTIAL_HEADERS = ("authorization", "api-key", "x-api-key")

# Hop-by-hop and framing headers Envoy owns, and headers Envoy refuses to let a config rewrite.
_ENVOY_OWNED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade"}
)


def gateway_managed_header(name: str) -> bool:
    """True for headers no registry setting may name: Envoy's own, the gateway's, pseudo-headers."""
    return name in _ENVOY_OWNED_HEADERS or name.startswith(("x-envoy-", GATEWAY_HEADER_PREFIX, ":"))

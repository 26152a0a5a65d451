#!/bin/sh
# Starts Envoy with the baked bootstrap. Each replica is its own xDS node (its hostname, unique in the
# compose network) and advertises its admin endpoint so the control plane can read backend health.
set -eu
node="${TOLLWAY_ENVOY_NODE_ID:-$(hostname)}"
admin_url="${TOLLWAY_ENVOY_ADMIN_URL:-http://$(hostname):9901}"
exec envoy -c /etc/tollway/envoy.yaml \
    --service-node "$node" \
    --config-yaml "{node: {metadata: {tollway.admin_url: \"$admin_url\"}}}" \
    --concurrency "${TOLLWAY_ENVOY_CONCURRENCY:-2}" \
    --disable-hot-restart \
    --log-level "${TOLLWAY_ENVOY_LOG_LEVEL:-warn}" \
    "$@"

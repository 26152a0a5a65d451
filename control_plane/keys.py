"""Every Redis/Valkey key family Tollway uses, in one place.

All keys carry a hash tag (`{...}`) so that one family lives in one Redis Cluster slot and multi-key
operations (MULTI, Lua) stay legal on a cluster.

| key | type | written by | read by |
|---|---|---|---|
| `tw:{registry}:snapshot` | string (JSON `Snapshot`) | control_plane.registry | xds, ext_proc, admin |
| `tw:{registry}:version` | string (integer) | control_plane.registry | control_plane.registry |
| `tw:{registry}:changes` | pub/sub channel (version as text) | control_plane.registry | xds, ext_proc |
| `tw:{xds}:nodes` | hash node_id → JSON `NodeStatus` | xds | admin (`tollway status`) |
"""

from __future__ import annotations

__all__ = ["REGISTRY_CHANGES", "REGISTRY_SNAPSHOT", "REGISTRY_VERSION", "XDS_NODES"]

REGISTRY_SNAPSHOT = "tw:{registry}:snapshot"
REGISTRY_VERSION = "tw:{registry}:version"
REGISTRY_CHANGES = "tw:{registry}:changes"
XDS_NODES = "tw:{xds}:nodes"

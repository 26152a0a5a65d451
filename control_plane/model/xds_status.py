"""What each Envoy node has accepted or rejected from the xDS server, as shown by `tollway status`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Nack", "NodeStatus", "ResourceStatus"]


class Nack(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str
    message: str
    at: datetime


class ResourceStatus(BaseModel):
    """One resource type (cds, eds, lds, rds) on one node."""

    model_config = ConfigDict(frozen=True)

    sent_version: str = ""
    acked_version: str = ""
    last_nack: Nack | None = None


class NodeStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    node_id: str
    cluster: str = ""
    connected: bool
    connected_at: datetime
    updated_at: datetime
    xds_instance: str = ""
    admin_url: str = Field(default="", description="the node's Envoy admin API URL; empty if unknown")
    resources: dict[str, ResourceStatus] = Field(default_factory=dict)

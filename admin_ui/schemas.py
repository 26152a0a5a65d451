"""Response shapes of the admin API (request bodies are the domain model itself)."""

from __future__ import annotations

from pydantic import BaseModel

from control_plane.model import Model, NodeStatus, RegistrySpec

__all__ = ["ModelList", "RegistryPublic", "StatusPublic", "WriteResult"]


class ModelList(BaseModel):
    version: int
    models: list[Model]


class RegistryPublic(BaseModel):
    version: int
    spec: RegistrySpec


class WriteResult(BaseModel):
    version: int
    changed: bool


class StatusPublic(BaseModel):
    registry_version: int
    models: int
    envoy_nodes: list[NodeStatus]

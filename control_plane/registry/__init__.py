"""The registry service and its storage. Only control-plane processes import this package."""

from control_plane.registry.document import RegistryDocument
from control_plane.registry.service import ApplyResult, Registry
from control_plane.registry.store import RedisRegistryStore, RegistryStore

__all__ = ["ApplyResult", "RedisRegistryStore", "Registry", "RegistryDocument", "RegistryStore"]

"""THE domain model: frozen pydantic values, no I/O. Every Tollway package may import it."""

from control_plane.model.backend import Backend, BackendName, ProviderKind
from control_plane.model.headers import GATEWAY_HEADER_PREFIX, MODEL_HEADER
from control_plane.model.model import Model, ModelName
from control_plane.model.snapshot import RegistrySpec, Snapshot
from control_plane.model.xds_status import Nack, NodeStatus, ResourceStatus

__all__ = [
    "GATEWAY_HEADER_PREFIX",
    "MODEL_HEADER",
    "Backend",
    "BackendName",
    "Model",
    "ModelName",
    "Nack",
    "NodeStatus",
    "ProviderKind",
    "RegistrySpec",
    "ResourceStatus",
    "Snapshot",
]

"""/admin/v1/registrations: backends register themselves for a model and heart-beat (service discovery).

These routes accept the admin token or the registration token (`TOLLWAY_ADMIN_REGISTRATION_TOKEN`), so
a backend need not hold the admin token. Model names may contain `/`, so they travel in the body or the
query string, never in the path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from admin_ui.deps import RegistrarAuth, RegistrationsDep
from admin_ui.schemas import RegistrationCreate, RegistrationList, RegistrationRemoved
from control_plane.model import BackendRegistration

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/registrations", tags=["registrations"], dependencies=[RegistrarAuth])


@router.put("")
async def register_backend(body: RegistrationCreate, registrations: RegistrationsDep) -> BackendRegistration:
    """Register or heartbeat (idempotent). The backend leaves Envoy's EDS about `ttl_s` after its last
    heartbeat; heart-beat every `ttl_s / 3`. 404: unknown model; 422: the backend cannot join it."""
    return await registrations.register(body.model, body.backend, body.ttl_s)


@router.get("")
async def list_registrations(
    registrations: RegistrationsDep,
    model: Annotated[str | None, Query(description="only this model's registrations")] = None,
) -> RegistrationList:
    return RegistrationList(registrations=await registrations.list(model))


@router.delete("")
async def deregister_backend(
    registrations: RegistrationsDep,
    model: Annotated[str, Query(min_length=1, description="model name or alias")],
    backend: Annotated[str, Query(min_length=1, description="the registered backend's name")],
) -> RegistrationRemoved:
    """Leave now (idempotent): `removed` is false when there was nothing to remove."""
    return RegistrationRemoved(removed=await registrations.deregister(model, backend))

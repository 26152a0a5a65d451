"""/admin/v1/credentials: upstream credentials (provider keys the gateway adds to upstream requests).

A value comes in once, in a PUT body, and is sealed with the deployment's secret key before it reaches
the registry; every response shows only a masked hint. Rotating a credential is putting it again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import ValidationError

from admin_ui.deps import AdminAuth, RegistryDep
from admin_ui.schemas import CredentialList, CredentialPublic, CredentialPut, CredentialWrite, WriteResult
from control_plane.errors import RegistryValidationError, SecretKeyError
from control_plane.model import CredentialName, UpstreamCredential, mask_secret
from control_plane.secret_box import SecretBox

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/credentials", tags=["credentials"], dependencies=[AdminAuth])

_NO_KEY = (
    "no secret key is configured, so credentials cannot be stored: set TOLLWAY_ADMIN_SECRET_KEY for the "
    "admin API and the same key as TOLLWAY_XDS_SECRET_KEY for xds (`tollway credentials generate-key` "
    "prints one; `tollway up` generates one per state directory)"
)


def _secret_box(request: Request) -> SecretBox:
    box: SecretBox | None = getattr(request.app.state, "secret_box", None)
    if box is None:
        raise SecretKeyError(_NO_KEY)
    return box


SecretBoxDep = Annotated[SecretBox, Depends(_secret_box)]


def _problems(exc: ValidationError) -> list[str]:
    """Field and message only: pydantic's input echo is left out (it would be the sealed value)."""
    return [
        f"{'.'.join(str(p) for p in e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}"
        for e in exc.errors(include_url=False, include_input=False)
    ]


@router.get("")
async def list_credentials(registry: RegistryDep) -> CredentialList:
    snapshot = await registry.snapshot()
    spec = snapshot.spec
    return CredentialList(
        version=snapshot.version, credentials=[CredentialPublic.of(c, spec) for c in spec.credentials]
    )


@router.get("/{name}")
async def get_credential(name: str, registry: RegistryDep) -> CredentialPublic:
    spec = (await registry.snapshot()).spec
    credential = spec.credential(name)
    if credential is None:
        raise HTTPException(status_code=404, detail=f"credential {name!r} is not in the registry")
    return CredentialPublic.of(credential, spec)


@router.put("/{name}")
async def put_credential(
    name: CredentialName, body: CredentialPut, registry: RegistryDep, box: SecretBoxDep
) -> CredentialWrite:
    """Create the credential or rotate its value (models using it switch at the next xDS push). A header
    or prefix left out keeps the credential's current one (the defaults for a new credential). The value
    is sealed before it is stored; the response shows only its hint."""
    clear = body.value.get_secret_value()
    current = (await registry.snapshot()).spec.credential(name)
    given = current.model_dump(include={"header", "prefix"}, exclude_unset=True) if current else {}
    given.update(body.model_dump(include={"header", "prefix"}, exclude_none=True))
    try:
        credential = UpstreamCredential.model_validate(
            {
                **given,
                "name": name,
                "sealed_value": box.seal(clear),
                "hint": mask_secret(clear),
                "updated_at": datetime.now(UTC),
            }
        )
    except ValidationError as exc:
        raise RegistryValidationError(_problems(exc)) from None
    result = await registry.put_credential(credential)
    stored = result.snapshot.spec.credential(name)
    assert stored is not None
    return CredentialWrite(
        version=result.snapshot.version,
        changed=result.changed,
        credential=CredentialPublic.of(stored, result.snapshot.spec),
    )


@router.delete("/{name}")
async def delete_credential(name: str, registry: RegistryDep) -> WriteResult:
    """Delete a credential; refused (422) while any model lists it in `upstream_credentials`."""
    result = await registry.remove_credential(name)
    return WriteResult(version=result.snapshot.version, changed=result.changed)

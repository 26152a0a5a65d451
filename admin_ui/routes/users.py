"""/admin/v1/users: the people who may sign in to the admin UI (admin, viewer, tenant users).

These routes take the admin token, like every /admin/v1 route. A password goes in (create, set password)
and is hashed at once; no response carries a password or its hash (`UserPublic`). The routes answer 503
when the app was built without a users service.
"""

from __future__ import annotations

from fastapi import APIRouter

from admin_ui.deps import AdminAuth, RegistryDep, UsersDep
from admin_ui.schemas import UserCreate, UserList, UserPassword, UserPublic
from control_plane.errors import (
    RegistryNotFoundError,
)
from control_plane.model import AdminRole

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/users", tags=["users"], dependencies=[AdminAuth])


@router.get("")
async def list_users(users: UsersDep) -> UserList:
    """Every user, sorted by username (no passwords, no hashes)."""
    return UserList(users=[UserPublic.of(u) for u in await users.list()])


@router.post("", status_code=201)
async def create_user(body: UserCreate, users: UsersDep, registry: RegistryDep) -> UserPublic:
    """Create a user. A `tenant` user names a tenant that is in the registry (404 otherwise); a taken
    username is a 409; a password shorter than 12 or longer than 1024 characters is a 422."""
    tenant = body.tenant if body.role is AdminRole.TENANT else None
    if tenant is not None and (await registry.snapshot()).spec.tenant(tenant) is None:
        raise RegistryNotFoundError(f"tenant {tenant!r} is not in the registry")
    user = await users.create(body.username, body.password.get_secret_value(), body.role, body.tenant)
    return UserPublic.of(user)


@router.get("/{username}")
async def get_user(username: str, users: UsersDep) -> UserPublic:
    return UserPublic.of(await users.get(username))


@router.post("/{username}/password")
async def set_user_password(username: str, body: UserPassword, users: UsersDep) -> UserPublic:
    """Replace the user's password."""
    return UserPublic.of(await users.set_password(username, body.password.get_secret_value()))


@router.post("/{username}/disable")
async def disable_user(username: str, users: UsersDep) -> UserPublic:
    """The user can no longer sign in (idempotent)."""
    return UserPublic.of(await users.set_disabled(username, True))


@router.post("/{username}/enable")
async def enable_user(username: str, users: UsersDep) -> UserPublic:
    """The user can sign in again (idempotent)."""
    return UserPublic.of(await users.set_disabled(username, False))


@router.delete("/{username}")
async def delete_user(username: str, users: UsersDep) -> UserPublic:
    """Remove the user; the user as it was. An unknown username is a 404."""
    return UserPublic.of(await users.delete(username))

"""UI users at /ui/users: who may sign in (username, role, tenant, enabled, created), and the admin's
forms to create a user, disable or enable one, set a new password and delete one.

Disabling, deleting or changing the password of a user ends every session of that user at once
(`RedisSessionStore.destroy_user`): a session remembers the user as they were at sign-in. An admin
cannot disable or delete their own account. Passwords are never rendered, not even back into a form
that had an error; hashes never leave the users service.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from admin_ui.ports import UsersPort
from admin_ui.web.context import UI_PATH, PageServices, WebDep, render
from admin_ui.web.formatting import done_notice, utc_text
from admin_ui.web.forms import FORM_ERROR, form_text
from admin_ui.web.guards import AdminForm, Operator, UiError, UiRoute
from admin_ui.web.sessions import Session
from control_plane.admin_users import PASSWORD_MIN_LENGTH
from control_plane.errors import AdminUserExistsError, AdminUserNotFoundError, AdminUserValidationError
from control_plane.model import AdminRole, AdminUser

__all__ = ["ROLE_OPTIONS", "creation_errors", "router", "user_view"]

router = APIRouter(route_class=UiRoute)

PATH = f"{UI_PATH}/users"
NOT_CONFIGURED = "UI users are not configured on this server."
ROLE_OPTIONS = [
    ("viewer", "Viewer — reads everything, changes nothing"),
    ("admin", "Admin — changes everything"),
    ("tenant", "Tenant user — one tenant only"),
]
DONE = {
    "created": "The user was created and can sign in now.",
    "disabled": "The user was disabled and signed out everywhere.",
    "enabled": "The user was enabled and can sign in again.",
    "deleted": "The user was deleted and signed out everywhere.",
    "password": "The password was changed; the user was signed out everywhere.",
}
SELF_CHANGE = "You cannot disable or delete your own account; ask another admin."
USERNAME_RULE = (
    "Use 2 to 64 characters: lower-case letters, digits and . _ @ -, starting with a letter or a digit."
)
_FIELDS = ("username", "password", "tenant", "role")


def user_view(user: AdminUser) -> dict[str, Any]:
    """What a page shows of a user: never the password hash."""
    return {
        "username": user.username,
        "role": user.role.value,
        "tenant": user.tenant,
        "disabled": user.disabled,
        "created": utc_text(user.created_at),
    }


def _message(field: str, text: str) -> str:
    if field == "username":
        return USERNAME_RULE
    return text[:1].upper() + text[1:] if text else "Invalid value."


def creation_errors(problems: list[str]) -> tuple[dict[str, str], str | None]:
    """`AdminUserValidationError.problems` ("field: message") as messages per field, plus what belongs
    to no field (the form's top message)."""
    errors: dict[str, str] = {}
    other: list[str] = []
    for problem in problems:
        field, sep, text = problem.partition(": ")
        if sep and field in _FIELDS:
            errors.setdefault(field, _message(field, text))
        else:
            other.append(problem)
    return errors, "; ".join(other) if other else None


def _users(services: PageServices) -> UsersPort:
    if services.users is None:
        raise UiError(503, "Users not configured", NOT_CONFIGURED)
    return services.users


async def _user(users: UsersPort, username: str) -> AdminUser:
    try:
        return await users.get(username)
    except AdminUserNotFoundError:
        raise UiError(404, "Not found", "There is no such user.") from None


async def _list_page(
    request: Request,
    session: Session,
    services: PageServices,
    *,
    status_code: int = 200,
    notice: str | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    users = await services.users.list() if services.users is not None else []
    context = {
        "configured": services.users is not None,
        "users": [user_view(u) for u in users],
        "roles": ROLE_OPTIONS,
        "min_length": PASSWORD_MIN_LENGTH,
        "form": form or {"username": "", "role": "viewer", "tenant": ""},
        "errors": errors or {},
        "error": error,
        "notice": notice,
    }
    return render(request, "users.html", context, status_code=status_code, session=session)


@router.get("/users")
async def users_page(
    request: Request, session: Operator, services: PageServices, done: str | None = None
) -> Response:
    """Every UI user; for admins, the form to create one."""
    return await _list_page(request, session, services, notice=done_notice(done, DONE))


@router.post("/users")
async def create_user(request: Request, session: AdminForm, services: PageServices) -> Response:
    """Create a user; errors go back next to the fields (422), success redirects to the list."""
    users = _users(services)
    form = await request.form()
    values = {
        "username": form_text(form, "username").lower(),
        "role": form_text(form, "role"),
        "tenant": form_text(form, "tenant"),
    }
    password, confirm = form_text(form, "password", strip=False), form_text(form, "confirm", strip=False)
    errors: dict[str, str] = {}
    roles = {value for value, _ in ROLE_OPTIONS}
    if values["role"] not in roles:
        errors["role"] = "Choose one of the roles."
    tenant: str | None = None
    if values["role"] == AdminRole.TENANT.value:
        tenant = values["tenant"]
        if not tenant:
            errors["tenant"] = "A tenant user needs the tenant it may see."
        elif (await services.registry.snapshot()).spec.tenant(tenant) is None:
            errors["tenant"] = "There is no such tenant."
    if password != confirm:
        errors["confirm"] = "The two passwords differ."
    error: str | None = None
    if not errors:
        try:
            await users.create(values["username"], password, AdminRole(values["role"]), tenant)
        except AdminUserValidationError as exc:
            errors, error = creation_errors(exc.problems)
        except AdminUserExistsError:
            errors["username"] = "A user with this name already exists."
        else:
            return RedirectResponse(f"{PATH}?done=created", status_code=303)
    return await _list_page(
        request, session, services, status_code=422, error=error or FORM_ERROR, errors=errors, form=values
    )


async def _detail_page(
    request: Request,
    session: Session,
    user: AdminUser,
    *,
    status_code: int = 200,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    context = {
        "user": user_view(user),
        "is_self": user.username == session.username,
        "min_length": PASSWORD_MIN_LENGTH,
        "errors": errors or {},
        "error": FORM_ERROR if errors else None,
        "notice": notice,
    }
    return render(request, "user.html", context, status_code=status_code, session=session)


@router.get("/users/{username}")
async def user_page(
    request: Request, username: str, session: Operator, services: PageServices, done: str | None = None
) -> Response:
    """One user; for admins, the forms to change them."""
    user = await _user(_users(services), username)
    return await _detail_page(request, session, user, notice=done_notice(done, DONE))


@router.post("/users/{username}/password")
async def set_password(
    request: Request, username: str, session: AdminForm, services: PageServices, web: WebDep
) -> Response:
    """A new password (typed twice); the user's sessions end."""
    users = _users(services)
    user = await _user(users, username)
    form = await request.form()
    password, confirm = form_text(form, "password", strip=False), form_text(form, "confirm", strip=False)
    if password != confirm:
        return await _detail_page(
            request, session, user, status_code=422, errors={"confirm": "The two passwords differ."}
        )
    try:
        await users.set_password(user.username, password)
    except AdminUserValidationError as exc:
        errors, _ = creation_errors(exc.problems)
        return await _detail_page(
            request, session, user, status_code=422, errors=errors or {"password": str(exc)}
        )
    await web.sessions.destroy_user(user.username)
    return RedirectResponse(f"{PATH}/{user.username}?done=password", status_code=303)


async def _refuse_self(
    request: Request, session: Session, services: PageServices, username: str
) -> Response | None:
    if username != session.username:
        return None
    return await _list_page(request, session, services, status_code=409, error=SELF_CHANGE)


@router.post("/users/{username}/disable")
async def disable_user(
    request: Request, username: str, session: AdminForm, services: PageServices, web: WebDep
) -> Response:
    """The user can no longer sign in; their sessions end."""
    users = _users(services)
    user = await _user(users, username)
    if (refused := await _refuse_self(request, session, services, user.username)) is not None:
        return refused
    await users.set_disabled(user.username, True)
    await web.sessions.destroy_user(user.username)
    return RedirectResponse(f"{PATH}?done=disabled", status_code=303)


@router.post("/users/{username}/enable")
async def enable_user(username: str, session: AdminForm, services: PageServices) -> Response:
    """The user can sign in again."""
    users = _users(services)
    user = await _user(users, username)
    await users.set_disabled(user.username, False)
    return RedirectResponse(f"{PATH}?done=enabled", status_code=303)


@router.post("/users/{username}/delete")
async def delete_user(
    request: Request, username: str, session: AdminForm, services: PageServices, web: WebDep
) -> Response:
    """Remove the user; their sessions end."""
    users = _users(services)
    user = await _user(users, username)
    if (refused := await _refuse_self(request, session, services, user.username)) is not None:
        return refused
    try:
        await users.delete(user.username)
    except AdminUserNotFoundError:
        raise UiError(404, "Not found", "There is no such user.") from None
    await web.sessions.destroy_user(user.username)
    return RedirectResponse(f"{PATH}?done=deleted", status_code=303)

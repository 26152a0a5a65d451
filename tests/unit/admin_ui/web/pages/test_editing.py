"""`save_or_show_again`: a registry write either redirects to the list or shows the form again with the
registry's own message (422 refused, 409 concurrent change)."""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from admin_ui.web.pages.editing import FormState, save_or_show_again
from control_plane.errors import RegistryConflictError, RegistryValidationError


def _again(state: FormState, status_code: int = 422) -> Response:
    return Response(f"{state.error}", status_code=status_code)


async def _write(error: Exception | None) -> None:
    if error is not None:
        raise error


def _save(error: Exception | None) -> Response:
    return asyncio.run(save_or_show_again(_write(error), _again, done_url="/ui/plans?done=created"))


def test_a_done_write_redirects_to_the_list() -> None:
    response = _save(None)
    assert (response.status_code, response.headers["location"]) == (303, "/ui/plans?done=created")


def test_a_refused_write_shows_the_form_with_the_registry_message() -> None:
    response = _save(RegistryValidationError(["tenant acme uses a model this plan drops", "price gone"]))
    assert (response.status_code, response.body) == (
        422,
        b"tenant acme uses a model this plan drops; price gone",
    )


def test_a_concurrent_change_is_409() -> None:
    response = _save(RegistryConflictError("the registry changed meanwhile"))
    assert (response.status_code, response.body) == (409, b"the registry changed meanwhile")

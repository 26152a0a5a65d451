"""Refusals under /ui are HTML pages, never the API's JSON: an unknown page, a GET on a form's address
(a refresh after posting), a malformed query, and a server error without its internal text."""

import httpx
from fastapi import FastAPI

from tests.support.ui_pages import sign_in


async def test_ui_refusals_are_html_pages(client: httpx.AsyncClient, app: FastAPI) -> None:
    await sign_in(client)
    for path, status in (
        ("/ui/no-such-page", 404),
        ("/ui/tenants/acme/keys", 405),  # the address of the new-key form, reloaded with GET
        ("/ui/models/new?rows=abc", 422),
    ):
        response = await client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert '{"error"' not in response.text
        assert 'id="user"' in response.text  # the signed-in header stays


async def test_the_api_keeps_json_errors(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_an_unexpected_ui_error_is_a_generic_html_500(app: FastAPI) -> None:
    @app.get("/ui/boom")
    async def boom() -> None:
        raise RuntimeError("internal detail: password=hunter2")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
        response = await c.get("/ui/boom")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "hunter2" not in response.text
    assert "Something went wrong" in response.text

"""/admin/v1/users over in-memory fakes: the admin token, create/list/password/disable/enable/delete,
409 for a taken username, 404 for an unknown tenant, 503 without a users service, and no password or
hash in any response."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from admin_ui.app import create_app
from control_plane.keystore import KeyStore
from control_plane.registry import Registry
from tests.support.fakes import (
    ADMIN_TOKEN,
    AdminHarness,
    FakeClock,
    MemoryKeyRecords,
    MemoryRegistryStore,
    MemoryUsageReader,
    MemoryXdsStatusStore,
)

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
OTHER = "another long password"
ALICE = {"username": "alice", "password": PASSWORD, "role": "admin"}


@pytest.fixture
def harness() -> AdminHarness:
    return AdminHarness(clock=FakeClock(NOW))


@pytest.fixture
async def client(harness: AdminHarness) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=harness.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin", headers=AUTH) as c:
        yield c


def _no_secrets(response: httpx.Response, harness: AdminHarness) -> None:
    text = response.text
    assert PASSWORD not in text
    assert OTHER not in text
    assert "argon2" not in text
    assert "password_hash" not in text
    for user in harness.user_store.users.values():
        assert user.password_hash not in text


async def test_every_user_route_needs_the_admin_token(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/admin/v1/users"), ("POST", "/admin/v1/users"), ("GET", "/admin/v1/users/alice"),
        ("POST", "/admin/v1/users/alice/password"), ("POST", "/admin/v1/users/alice/disable"),
        ("POST", "/admin/v1/users/alice/enable"), ("DELETE", "/admin/v1/users/alice"),
    ):  # fmt: skip
        for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": ""}):
            response = await client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["code"] == "invalid_admin_token"


async def test_create_list_and_manage_a_user(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    created = await client.post("/admin/v1/users", json=ALICE)
    assert created.status_code == 201, created.text
    assert created.json() == {
        "username": "alice", "role": "admin", "tenant": None, "disabled": False,
        "created_at": "2026-11-21T12:00:00Z",
    }  # fmt: skip
    responses = [created]
    await client.post("/admin/v1/users", json={**ALICE, "username": "bob", "role": "viewer"})
    listed = await client.get("/admin/v1/users")
    responses.append(listed)
    assert [(u["username"], u["role"]) for u in listed.json()["users"]] == [
        ("alice", "admin"), ("bob", "viewer"),
    ]  # fmt: skip
    responses.append(await client.get("/admin/v1/users/alice"))
    disabled = await client.post("/admin/v1/users/alice/disable")
    assert disabled.json()["disabled"] is True
    assert await harness.users.authenticate("alice", PASSWORD) is None
    enabled = await client.post("/admin/v1/users/alice/enable")
    assert enabled.json()["disabled"] is False
    changed = await client.post("/admin/v1/users/alice/password", json={"password": OTHER})
    assert changed.status_code == 200, changed.text
    assert await harness.users.authenticate("alice", PASSWORD) is None
    assert await harness.users.authenticate("alice", OTHER) is not None
    deleted = await client.delete("/admin/v1/users/bob")
    assert deleted.json()["username"] == "bob"
    assert [u["username"] for u in (await client.get("/admin/v1/users")).json()["users"]] == ["alice"]
    responses += [disabled, enabled, changed, deleted]
    for response in responses:
        assert response.status_code in (200, 201)
        _no_secrets(response, harness)


async def test_a_taken_username_is_a_409(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    assert (await client.post("/admin/v1/users", json=ALICE)).status_code == 201
    again = await client.post("/admin/v1/users", json={**ALICE, "password": OTHER, "role": "viewer"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_exists"
    assert "'alice' already exists" in again.json()["error"]["message"]
    _no_secrets(again, harness)
    assert harness.user_store.users["alice"].role == "admin"


async def test_a_tenant_user_needs_a_tenant_in_the_registry(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    body = {**ALICE, "username": "carol", "role": "tenant", "tenant": "acme"}
    missing = await client.post("/admin/v1/users", json=body)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert "tenant 'acme' is not in the registry" in missing.json()["error"]["message"]
    assert harness.user_store.users == {}
    for path, put in (
        ("/admin/v1/plans/gold", {"name": "gold", "billing": {"kind": "per_token"}}),
        ("/admin/v1/tenants/acme", {"id": "acme", "plan": "gold"}),
    ):
        assert (await client.put(path, json=put)).status_code == 200
    created = await client.post("/admin/v1/users", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["tenant"] == "acme"
    no_tenant = await client.post("/admin/v1/users", json={**body, "username": "dave", "tenant": None})
    assert no_tenant.status_code == 422
    assert "exactly one tenant" in no_tenant.json()["error"]["message"]


async def test_bad_passwords_and_usernames_are_422_without_echo(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    short = await client.post("/admin/v1/users", json={**ALICE, "password": "sesame-open"})
    assert short.status_code == 422
    assert short.json()["error"]["code"] == "validation_failed"
    assert "at least 12 characters" in short.json()["error"]["message"]
    assert "sesame-open" not in short.text
    long = await client.post("/admin/v1/users", json={**ALICE, "password": "p" * 1025})
    assert long.status_code == 422
    assert "at most 1024 characters" in long.json()["error"]["message"]
    bad_name = await client.post("/admin/v1/users", json={**ALICE, "username": "Alice Smith"})
    assert bad_name.status_code == 422
    assert "username" in bad_name.json()["error"]["message"]
    wrong_type = await client.post("/admin/v1/users", json={**ALICE, "password": 12345678901234})
    assert wrong_type.status_code == 422
    assert "12345678901234" not in wrong_type.text
    assert harness.user_store.users == {}
    await client.post("/admin/v1/users", json=ALICE)
    weak = await client.post("/admin/v1/users/alice/password", json={"password": "sesame-open"})
    assert weak.status_code == 422
    assert "sesame-open" not in weak.text


async def test_a_password_with_a_lone_surrogate_is_a_422_not_a_500(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    # JSON may escape a lone surrogate ("\ud800"): json.loads accepts it, pydantic's `str` refuses it,
    # but `SecretStr` let it through to the password hasher, which cannot encode it (was a 500).
    headers = {"Content-Type": "application/json"}
    body = b'{"username": "alice", "password": "\\ud800correct horse battery", "role": "admin"}'
    created = await client.post("/admin/v1/users", content=body, headers=headers)
    assert created.status_code == 422, created.text
    assert created.json()["error"]["code"] == "validation_failed"
    assert created.json()["error"]["param"] == "password"
    assert "lone surrogate" in created.json()["error"]["message"]
    assert "correct horse" not in created.text
    assert harness.user_store.users == {}
    await client.post("/admin/v1/users", json=ALICE)
    body = b'{"password": "correct horse battery\\udfff"}'
    changed = await client.post("/admin/v1/users/alice/password", content=body, headers=headers)
    assert changed.status_code == 422, changed.text
    assert changed.json()["error"]["param"] == "password"


async def test_unknown_users_are_404(client: httpx.AsyncClient) -> None:
    for method, path, body in (
        ("GET", "/admin/v1/users/nobody", None), ("POST", "/admin/v1/users/nobody/disable", None),
        ("POST", "/admin/v1/users/nobody/enable", None), ("DELETE", "/admin/v1/users/nobody", None),
        ("POST", "/admin/v1/users/nobody/password", {"password": PASSWORD}),
    ):  # fmt: skip
        response = await client.request(method, path, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"


async def test_without_a_users_service_the_routes_answer_503() -> None:
    registry = Registry(MemoryRegistryStore())
    app = create_app(
        registry_port=registry,
        xds_status=MemoryXdsStatusStore(),
        keys_port=KeyStore(MemoryKeyRecords(), registry),
        usage_port=MemoryUsageReader(),
        admin_token=ADMIN_TOKEN,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin", headers=AUTH) as client:
        listed = await client.get("/admin/v1/users")
        created = await client.post("/admin/v1/users", json=ALICE)
    assert (listed.status_code, created.status_code) == (503, 503)
    assert "not configured" in listed.json()["error"]["message"]

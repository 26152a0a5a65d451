"""Every change through the admin JSON API lands in the audit log with its actor, action, target and the
object before and after — and never a secret (key secrets and hashes, passwords, credential values)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from pydantic import SecretStr

from control_plane.secret_box import SecretBox, generate_key
from tests.support.fakes import ADMIN_TOKEN, AdminHarness, FakeClock

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MODEL = {"name": "llama", "backends": [{"name": "gpu", "base_url": "http://10.0.0.1:8000/v1"}]}
PLAN = {"name": "gold", "limits": {"requests_per_minute": 60}, "billing": {"kind": "per_token"}}
PROVIDER_SECRET = "sk-provider-0123456789abcdefghij"
USER_PASSWORD = "correct horse battery staple"


@pytest.fixture
def harness() -> AdminHarness:
    harness = AdminHarness(clock=FakeClock(NOW))
    harness.app.state.secret_box = SecretBox(SecretStr(generate_key()))
    return harness


@pytest.fixture
async def client(harness: AdminHarness) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=harness.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin", headers=AUTH) as c:
        yield c


async def _ok(response: httpx.Response) -> dict[str, object]:
    assert response.status_code < 300, response.text
    body: dict[str, object] = response.json()
    return body


async def test_registry_writes_are_audited_with_before_and_after(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await _ok(await client.put("/admin/v1/models/llama", json=MODEL))
    await _ok(await client.put("/admin/v1/plans/gold", json=PLAN))
    await _ok(await client.put("/admin/v1/tenants/acme", json={"id": "acme", "plan": "gold"}))
    await _ok(
        await client.put("/admin/v1/tenants/acme", json={"id": "acme", "plan": "gold", "status": "suspended"})
    )
    await _ok(
        await client.put("/admin/v1/tenants/acme", json={"id": "acme", "plan": "gold", "status": "suspended"})
    )
    await _ok(await client.delete("/admin/v1/tenants/acme"))
    assert harness.audit.actions() == [
        ("token", "model.put", "llama"),
        ("token", "plan.put", "gold"),
        ("token", "tenant.put", "acme"),
        ("token", "tenant.put", "acme"),  # the unchanged third put is not recorded
        ("token", "tenant.remove", "acme"),
    ]
    created, suspended, removed = harness.audit.entries[2:]
    assert created.before is None
    assert created.after is not None
    assert created.after["status"] == "active"
    assert suspended.before is not None
    assert suspended.before["status"] == "active"
    assert suspended.after is not None
    assert suspended.after["status"] == "suspended"
    assert removed.before == suspended.after
    assert removed.after is None
    assert all(e.at == NOW or e.at.tzinfo is not None for e in harness.audit.entries)


async def test_refused_writes_are_not_audited(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    response = await client.put("/admin/v1/tenants/acme", json={"id": "acme", "plan": "missing"})
    assert response.status_code == 422
    assert harness.audit.entries == []


async def test_key_actions_are_audited_without_secrets(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await _ok(await client.put("/admin/v1/plans/gold", json=PLAN))
    await _ok(await client.put("/admin/v1/tenants/acme", json={"id": "acme", "plan": "gold"}))
    created = await _ok(await client.post("/admin/v1/keys", json={"tenant": "acme", "name": "ci"}))
    key = created["key"]
    assert isinstance(key, dict)
    rotated = await _ok(await client.post(f"/admin/v1/keys/{key['id']}/rotate", json={"grace_s": 60}))
    new_key = rotated["key"]
    assert isinstance(new_key, dict)
    await _ok(await client.post(f"/admin/v1/keys/{new_key['id']}/revoke"))
    await _ok(await client.post(f"/admin/v1/keys/{new_key['id']}/revoke"))  # already revoked: no entry
    assert [a for _, a, _ in harness.audit.actions()][2:] == ["key.create", "key.rotate", "key.revoke"]
    revoke = harness.audit.entries[-1]
    assert revoke.before is not None
    assert revoke.before["state"] == "active"
    assert revoke.after is not None
    assert revoke.after["state"] == "revoked"
    log = b"".join(orjson.dumps(e.model_dump(mode="json")) for e in harness.audit.entries)
    for secret in (created["secret"], rotated["secret"]):
        assert isinstance(secret, str)
        assert secret.encode() not in log
    assert b"secret_hash" not in log


async def test_credentials_and_users_are_audited_without_their_secrets(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await _ok(await client.put("/admin/v1/credentials/openai", json={"value": PROVIDER_SECRET}))
    await _ok(
        await client.post(
            "/admin/v1/users", json={"username": "ada", "password": USER_PASSWORD, "role": "viewer"}
        )
    )
    await _ok(await client.post("/admin/v1/users/ada/disable"))
    await _ok(await client.delete("/admin/v1/users/ada"))
    assert [a for _, a, _ in harness.audit.actions()] == [
        "credential.put",
        "user.create",
        "user.disable",
        "user.delete",
    ]
    log = b"".join(orjson.dumps(e.model_dump(mode="json")) for e in harness.audit.entries)
    assert PROVIDER_SECRET.encode() not in log
    assert b"sealed_value" not in log
    assert USER_PASSWORD.encode() not in log
    assert b"password_hash" not in log
    assert b"argon2" not in log


async def test_cache_purges_are_audited(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await _ok(await client.put("/admin/v1/plans/gold", json=PLAN))
    await _ok(await client.put("/admin/v1/tenants/acme", json={"id": "acme", "plan": "gold"}))
    await _ok(await client.post("/admin/v1/tenants/acme/cache/purge"))
    actor, action, target = harness.audit.actions()[-1]
    assert (actor, action, target) == ("token", "cache.purge", "tenant:acme")

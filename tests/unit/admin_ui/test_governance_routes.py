"""Plans, tenants, prices, keys and usage over the admin API (in-memory fakes behind the ports)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from control_plane.keys import TOTAL, usage_field
from control_plane.model import hash_secret
from tests.support.fakes import ADMIN_TOKEN, AdminHarness, FakeClock

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MODEL = {
    "name": "llama",
    "aliases": ["l3"],
    "backends": [{"name": "gpu", "base_url": "http://10.0.0.1:8000/v1"}],
}
PLAN = {"name": "gold", "limits": {"requests_per_minute": 60}, "billing": {"kind": "per_token"}}
TENANT = {"id": "acme", "name": "Acme", "plan": "gold", "overrides": {"requests_per_minute": 120}}
PRICE = {"model": "llama", "effective_from": "2026-01-01T00:00:00Z", "input_per_1m_micro": 1_000_000}


@pytest.fixture
def harness() -> AdminHarness:
    return AdminHarness(clock=FakeClock(NOW))


@pytest.fixture
async def client(harness: AdminHarness) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=harness.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin", headers=AUTH) as c:
        yield c


async def _seed(client: httpx.AsyncClient) -> None:
    for path, body in (
        ("/admin/v1/models/llama", MODEL),
        ("/admin/v1/plans/gold", PLAN),
        ("/admin/v1/tenants/acme", TENANT),
        ("/admin/v1/prices/llama", PRICE),
    ):
        response = await client.put(path, json=body)
        assert response.status_code == 200, response.text


async def test_every_new_route_needs_the_admin_token(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/admin/v1/plans"), ("GET", "/admin/v1/tenants"), ("GET", "/admin/v1/prices"),
        ("GET", "/admin/v1/keys"), ("POST", "/admin/v1/keys"), ("GET", "/admin/v1/usage/acme"),
    ):  # fmt: skip
        response = await client.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401, path


async def test_plan_tenant_price_crud(client: httpx.AsyncClient) -> None:
    await _seed(client)
    assert (await client.get("/admin/v1/plans/gold")).json()["limits"]["requests_per_minute"] == 60
    tenants = (await client.get("/admin/v1/tenants")).json()
    assert tenants["version"] == 4
    # only the overridden limit is shown (an explicit null would lift the plan's other limits)
    assert tenants["tenants"] == [
        {
            "id": "acme",
            "name": "Acme",
            "plan": "gold",
            "status": "active",
            "overrides": {"requests_per_minute": 120},
            "cache": None,
        }
    ]
    prices = (await client.get("/admin/v1/prices/llama")).json()["prices"]
    assert [p["input_per_1m_micro"] for p in prices] == [1_000_000]
    assert (await client.get("/admin/v1/prices", params={"model": "nope"})).json()["prices"] == []
    again = await client.put("/admin/v1/tenants/acme", json=TENANT)
    assert again.json() == {"version": 4, "changed": False}
    deleted = await client.delete(
        "/admin/v1/prices/llama", params={"effective_from": "2026-01-01T00:00:00+00:00"}
    )
    assert deleted.json() == {"version": 5, "changed": True}
    assert (await client.get("/admin/v1/prices/llama")).status_code == 404
    assert (await client.delete("/admin/v1/tenants/acme")).json()["changed"] is True
    assert (await client.delete("/admin/v1/plans/gold")).json()["changed"] is True
    missing = await client.get("/admin/v1/tenants/acme")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


async def test_registry_rules_map_to_422_and_404(client: httpx.AsyncClient) -> None:
    orphan = await client.put("/admin/v1/tenants/acme", json=TENANT)
    assert orphan.status_code == 422
    assert "uses plan 'gold', which does not exist" in orphan.json()["error"]["message"]
    unpriced = await client.put("/admin/v1/prices/llama", json=PRICE)
    assert unpriced.status_code == 422
    assert "model 'llama'" in unpriced.json()["error"]["message"]
    await _seed(client)
    in_use = await client.delete("/admin/v1/plans/gold")
    assert in_use.status_code == 422
    assert "plan 'gold' is used by tenant(s) 'acme'" in in_use.json()["error"]["message"]
    assert (await client.delete("/admin/v1/plans/nope")).status_code == 404
    mismatch = await client.put("/admin/v1/plans/other", json=PLAN)
    assert mismatch.status_code == 422
    bad = await client.put(
        "/admin/v1/plans/gold", json={**PLAN, "billing": {"kind": "per_token", "monthly_fee_micro": 5}}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_failed"


async def test_apply_replaces_only_the_sections_it_contains(client: httpx.AsyncClient) -> None:
    await _seed(client)
    models_only = {"models": [MODEL, {**MODEL, "name": "qwen", "aliases": []}]}
    assert (await client.put("/admin/v1/registry", json=models_only)).json()["changed"] is True
    spec = (await client.get("/admin/v1/registry")).json()["spec"]
    assert [t["id"] for t in spec["tenants"]] == ["acme"]
    assert [m["name"] for m in spec["models"]] == ["llama", "qwen"]
    assert (await client.put("/admin/v1/registry", json=models_only)).json()["changed"] is False
    # a tenants-only document may name plans that live in the registry already
    tenants_only = {"tenants": [TENANT, {"id": "beta", "plan": "gold"}]}
    assert (await client.put("/admin/v1/registry", json=tenants_only)).json()["changed"] is True
    wipe = await client.put("/admin/v1/registry", json={"tenants": []})
    assert wipe.json()["changed"] is True
    assert (await client.get("/admin/v1/tenants")).json()["tenants"] == []


async def test_key_secret_is_shown_once_and_never_its_hash(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await _seed(client)
    created = await client.post(
        "/admin/v1/keys", json={"tenant": "acme", "name": "ci", "allowed_models": ["l3"]}
    )
    assert created.status_code == 201
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("tw-")
    assert "cannot be shown again" in body["warning"]
    key = body["key"]
    assert key["allowed_models"] == ["llama"]  # aliases are stored as the model's name
    assert key["state"] == "active"
    sha = hash_secret(secret)
    for path in ("/admin/v1/keys", f"/admin/v1/keys/{key['id']}", "/admin/v1/keys?tenant=acme"):
        text = (await client.get(path)).text
        assert secret not in text
        assert sha not in text
        assert "secret_hash" not in text
    assert harness.records.keys[key["id"]].secret_hash == sha
    listed = (await client.get("/admin/v1/keys", params={"tenant": "acme"})).json()["keys"]
    assert [k["id"] for k in listed] == [key["id"]]
    assert (await client.get("/admin/v1/keys", params={"tenant": "other"})).json()["keys"] == []


async def test_key_errors(client: httpx.AsyncClient) -> None:
    await _seed(client)
    unknown_tenant = await client.post("/admin/v1/keys", json={"tenant": "ghost"})
    assert (unknown_tenant.status_code, unknown_tenant.json()["error"]["code"]) == (422, "validation_failed")
    unknown_model = await client.post("/admin/v1/keys", json={"tenant": "acme", "allowed_models": ["gpt-9"]})
    assert unknown_model.status_code == 422
    assert "'gpt-9'" in unknown_model.json()["error"]["message"]
    past = await client.post("/admin/v1/keys", json={"tenant": "acme", "expires_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422
    assert (await client.get("/admin/v1/keys/key_0000000000000000")).status_code == 404
    assert (await client.post("/admin/v1/keys/key_0000000000000000/revoke")).status_code == 404
    negative = await client.post("/admin/v1/keys/key_0000000000000000/rotate", json={"grace_s": -1})
    assert negative.status_code == 422


async def test_revoke_and_rotate(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await _seed(client)
    key_id = (await client.post("/admin/v1/keys", json={"tenant": "acme"})).json()["key"]["id"]
    rotated = await client.post(f"/admin/v1/keys/{key_id}/rotate", json={"grace_s": 60})
    assert rotated.status_code == 201
    body = rotated.json()
    assert body["secret"].startswith("tw-")
    assert body["previous"]["rotated_to"] == body["key"]["id"]
    assert body["previous"]["expires_at"] == (NOW + timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
    again = await client.post(f"/admin/v1/keys/{key_id}/rotate", json={"grace_s": 60})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_key_state")
    harness.clock.advance(timedelta(seconds=61))
    assert (await client.get(f"/admin/v1/keys/{key_id}")).json()["state"] == "expired"
    new_id = body["key"]["id"]
    revoked = await client.post(f"/admin/v1/keys/{new_id}/revoke")
    assert (revoked.status_code, revoked.json()["state"]) == (200, "revoked")
    writes = len(harness.records.writes)
    assert (await client.post(f"/admin/v1/keys/{new_id}/revoke")).json()["state"] == "revoked"
    assert len(harness.records.writes) == writes  # idempotent: no second write
    refused = await client.post(f"/admin/v1/keys/{new_id}/rotate", json={"grace_s": 0})
    assert refused.status_code == 409
    assert "revoked" in refused.json()["error"]["message"]


async def test_usage_invoice_json_and_csv(client: httpx.AsyncClient, harness: AdminHarness) -> None:
    await _seed(client)
    version = "2026-01-01T00:00:00+00:00"
    counters = {"requests": 3, "billable_requests": 3, "prompt_tokens": 1000, "completion_tokens": 10,
                "cost_pico": 1_000_500_000}  # fmt: skip
    harness.usage.usage[("acme", "2026-11")] = {
        **{usage_field("llama", version, m): v for m, v in counters.items()},
        **{usage_field(TOTAL, TOTAL, m): v for m, v in counters.items()},
    }
    invoice = (await client.get("/admin/v1/usage/acme", params={"month": "2026-11"})).json()
    assert invoice["total_micro"] == 1001  # 1000.5 micro rounds half up
    assert invoice["total"] == "0.001001"
    assert [(line["model"], line["requests"]) for line in invoice["lines"]] == [("llama", 3)]
    csv = await client.get("/admin/v1/usage/acme", params={"month": "2026-11", "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    rows = csv.text.strip().split("\n")
    assert rows[0].startswith("kind,model,price_version,requests")
    assert rows[1].startswith(f"usage,llama,{version},3,3,1000,0,10,")
    assert rows[-1].endswith(",1001,0.001001")
    empty = (await client.get("/admin/v1/usage/acme", params={"month": "2026-10"})).json()
    assert (empty["lines"], empty["total"]) == ([], "0.00")
    assert (await client.get("/admin/v1/usage/ghost", params={"month": "2026-11"})).status_code == 404
    bad = await client.get("/admin/v1/usage/acme", params={"month": "2026-13"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "validation_failed")
    assert (await client.get("/admin/v1/usage/acme", params={"format": "xml"})).status_code == 422

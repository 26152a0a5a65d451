"""/admin/v1/credentials: values are sealed on the way in and never come back out."""

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from admin_ui.settings import AdminSettings
from control_plane.secret_box import SecretBox, generate_key
from tests.support.fakes import ADMIN_TOKEN, AdminHarness, FakeClock

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
VALUE = "sk-proj-SECRETSECRETSECRET-wxyz"
MODEL = {
    "name": "gpt",
    "backends": [{"name": "openai", "base_url": "https://api.openai.com/v1"}],
    "upstream_credentials": ["openai"],
}
KEY = generate_key()


@pytest.fixture
def harness() -> AdminHarness:
    harness = AdminHarness(clock=FakeClock(datetime(2026, 11, 21, tzinfo=UTC)))
    harness.app.state.secret_box = SecretBox(SecretStr(KEY))
    return harness


@pytest.fixture
async def client(harness: AdminHarness) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=harness.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin", headers=AUTH) as c:
        yield c


async def test_put_stores_only_ciphertext_and_answers_with_the_hint(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    before = datetime.now(UTC)
    response = await client.put("/admin/v1/credentials/openai", json={"value": VALUE})
    assert response.status_code == 200, response.text
    body = response.json()
    updated_at = datetime.fromisoformat(body["credential"].pop("updated_at"))
    assert body == {
        "version": 1,
        "changed": True,
        "credential": {
            "name": "openai", "header": "authorization", "prefix": "Bearer ", "hint": "…wxyz", "used_by": [],
        },
    }  # fmt: skip
    assert before <= updated_at <= datetime.now(UTC)
    assert "SECRET" not in response.text
    stored = harness.store.snapshot.spec.credential("openai")
    assert stored is not None
    assert "SECRET" not in harness.store.snapshot.model_dump_json()
    assert SecretBox(SecretStr(KEY)).open(stored.sealed_value) == VALUE


async def test_get_and_list_show_the_hint_only(client: httpx.AsyncClient) -> None:
    await client.put("/admin/v1/credentials/azure", json={"value": VALUE, "header": "api-key", "prefix": ""})
    await client.put("/admin/v1/credentials/short", json={"value": "abc"})
    assert (
        await client.put("/admin/v1/models/gpt", json={**MODEL, "upstream_credentials": ["azure"]})
    ).is_success
    one = await client.get("/admin/v1/credentials/azure")
    assert one.status_code == 200
    assert {k: v for k, v in one.json().items() if k != "updated_at"} == {
        "name": "azure", "header": "api-key", "prefix": "", "hint": "…wxyz", "used_by": ["gpt"],
    }  # fmt: skip
    listed = await client.get("/admin/v1/credentials")
    assert listed.json()["version"] == 3
    assert [(c["name"], c["hint"]) for c in listed.json()["credentials"]] == [
        ("azure", "…wxyz"),
        ("short", "…"),
    ]
    registry = await client.get("/admin/v1/registry")
    assert [set(c) for c in registry.json()["spec"]["credentials"]] == [
        {"name", "header", "prefix", "hint", "updated_at", "used_by"}
    ] * 2
    for response in (one, listed, registry):
        assert "sealed_value" not in response.text
        assert "gAAAA" not in response.text
        assert "SECRET" not in response.text
    missing = await client.get("/admin/v1/credentials/nope")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


async def test_rotation_seals_anew_and_keeps_header_and_prefix(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    await client.put("/admin/v1/credentials/azure", json={"value": VALUE, "header": "api-key", "prefix": ""})
    first = harness.store.snapshot.spec.credential("azure")
    rotated = await client.put("/admin/v1/credentials/azure", json={"value": "sk-NEWNEWNEWNEW-abcd"})
    assert rotated.json()["changed"] is True
    second = harness.store.snapshot.spec.credential("azure")
    assert first is not None
    assert second is not None
    assert (second.header, second.prefix, second.hint) == ("api-key", "", "…abcd")
    assert second.sealed_value != first.sealed_value
    assert second.updated_at >= first.updated_at
    assert SecretBox(SecretStr(KEY)).open(second.sealed_value) == "sk-NEWNEWNEWNEW-abcd"
    reset = await client.put("/admin/v1/credentials/azure", json={"value": VALUE, "header": "authorization"})
    assert reset.json()["credential"]["header"] == "authorization"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"value": VALUE + "\n"}, "value: value must be printable ASCII"),
        ({"value": " " + VALUE}, "value: value must be printable ASCII"),
        ({"value": VALUE + "é"}, "value: value must be printable ASCII"),
        ({"value": VALUE * 400}, "value: Value should have at most 8192 items"),
        ({"value": VALUE, "extra": VALUE}, "extra: Extra inputs are not permitted"),
        ({"value": VALUE, "header": "Bad Header"}, "header: String should match pattern"),
        ({"value": VALUE, "header": "host"}, "header: header 'host' is managed by the gateway"),
        ({"value": VALUE, "prefix": "Bearer\n"}, "prefix: String should match pattern"),
        ({"value": [VALUE]}, "value: Input should be a valid string"),
        ({"secret": VALUE}, "value: Field required"),
    ],
)
async def test_422_never_echoes_the_value(
    client: httpx.AsyncClient, harness: AdminHarness, body: dict[str, object], fragment: str
) -> None:
    response = await client.put("/admin/v1/credentials/openai", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "validation_failed")
    assert fragment in error["message"]
    assert "SECRET" not in response.text
    assert harness.store.snapshot.version == 0


async def test_invalid_json_and_bad_names_never_echo(client: httpx.AsyncClient) -> None:
    broken = await client.put(
        "/admin/v1/credentials/openai", content=b'{"value": "' + VALUE.encode() + b'"', headers=AUTH
    )
    assert broken.status_code == 422
    assert "SECRET" not in broken.text
    bad_name = await client.put("/admin/v1/credentials/Not_A_Label", json={"value": VALUE})
    assert bad_name.status_code == 422
    assert bad_name.json()["error"]["message"].startswith("path.name: String should match pattern")
    assert "SECRET" not in bad_name.text


async def test_remove_in_use_is_refused(client: httpx.AsyncClient) -> None:
    await client.put("/admin/v1/credentials/openai", json={"value": VALUE})
    assert (await client.put("/admin/v1/models/gpt", json=MODEL)).status_code == 200
    in_use = await client.delete("/admin/v1/credentials/openai")
    assert in_use.status_code == 422
    assert in_use.json()["error"]["message"] == (
        "credential 'openai' is used by model(s) 'gpt'; remove it from their upstream_credentials first"
    )
    assert (await client.delete("/admin/v1/models/gpt")).status_code == 200
    assert (await client.delete("/admin/v1/credentials/openai")).json() == {"version": 4, "changed": True}
    assert (await client.delete("/admin/v1/credentials/openai")).status_code == 404


async def test_without_a_secret_key_writes_are_refused_with_503(
    client: httpx.AsyncClient, harness: AdminHarness
) -> None:
    harness.app.state.secret_box = None
    response = await client.put("/admin/v1/credentials/openai", json={"value": VALUE})
    assert response.status_code == 503
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("service_unavailable", "secret_key_unset")
    assert "set TOLLWAY_ADMIN_SECRET_KEY" in error["message"]
    assert "SECRET" not in error["message"].replace("SECRET_KEY", "")
    assert (await client.get("/admin/v1/credentials")).json() == {"version": 0, "credentials": []}


async def test_routes_need_the_admin_token(client: httpx.AsyncClient) -> None:
    base = "/admin/v1/credentials"
    for method, path in (("GET", base), ("GET", f"{base}/x"), ("PUT", f"{base}/x"), ("DELETE", f"{base}/x")):
        response = await client.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401, path


async def test_openapi_never_advertises_sealed_values(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert "sealed_value" not in schemas["CredentialPublic"]["properties"]
    assert "sealed_value" not in str(schemas["RegistrySpecPublic"])


def test_settings_take_the_key_from_the_environment_and_refuse_a_bad_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOLLWAY_ADMIN_TOKEN", ADMIN_TOKEN)
    assert AdminSettings().secret_key is None
    monkeypatch.setenv("TOLLWAY_ADMIN_SECRET_KEY", f"{KEY},{generate_key()}")
    key = AdminSettings().secret_key
    assert key is not None
    assert key.get_secret_value().startswith(KEY)
    assert KEY not in repr(AdminSettings())
    monkeypatch.setenv("TOLLWAY_ADMIN_SECRET_KEY", "not-a-key-SECRET")
    with pytest.raises(ValueError, match="secret key number 1 of 1 is malformed") as error:
        AdminSettings()
    assert "not-a-key-SECRET" not in str(error.value)


async def test_nothing_logs_the_value(
    client: httpx.AsyncClient, harness: AdminHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.put("/admin/v1/credentials/openai", json={"value": VALUE})
    await client.put("/admin/v1/credentials/openai", json={"value": VALUE + "\n"})
    harness.app.state.secret_box = None
    await client.put("/admin/v1/credentials/openai", json={"value": VALUE})
    assert "SECRETSECRET" not in caplog.text

"""/admin/v1/registrations over in-memory stores: auth (admin or registration token), rules, errors."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from admin_ui.app import create_app
from control_plane.keystore import KeyStore
from control_plane.model import Backend, Model, RegistrationPolicy
from control_plane.registrations import Registrations
from control_plane.registry import Registry
from tests.support.fakes import (
    FakeClock,
    MemoryKeyRecords,
    MemoryRegistryStore,
    MemoryUsageReader,
    MemoryXdsStatusStore,
)
from tests.support.registration_fakes import MemoryRegistrationStore

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ADMIN = {"Authorization": f"Bearer {'a' * 32}"}
REGISTRAR = {"Authorization": f"Bearer {'r' * 32}"}
BODY = {
    "model": "meta/llama",
    "backend": {"name": "gpu2", "base_url": "http://10.0.0.2:8000/v1", "weight": 3},
    "ttl_s": 6,
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
async def client(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    registry = Registry(MemoryRegistryStore())
    static = Backend(name="static", base_url="http://10.0.0.1:8000/v1")
    await registry.put_model(
        Model(
            name="meta/llama",
            aliases=("l3",),
            backends=(static,),
            registration=RegistrationPolicy(allowed_networks=("10.0.0.0/8", "127.0.0.0/8")),
        )
    )
    app = create_app(
        registry_port=registry,
        xds_status=MemoryXdsStatusStore([]),
        keys_port=KeyStore(MemoryKeyRecords(), registry),
        usage_port=MemoryUsageReader(),
        admin_token="a" * 32,
        registrations_port=Registrations(MemoryRegistrationStore(clock), registry),
        registration_token="r" * 32,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as c:
        yield c


async def test_register_heartbeat_list_and_deregister(client: httpx.AsyncClient, clock: FakeClock) -> None:
    put = await client.put("/admin/v1/registrations", json=BODY, headers=REGISTRAR)
    assert put.status_code == 200
    assert put.json() == {
        "model": "meta/llama",
        "backend": {"name": "gpu2", "provider": "openai-compatible", "base_url": "http://10.0.0.2:8000/v1",
                    "weight": 3, "priority": 0, "connect_timeout_s": 5.0, "ca_file": None},
        "ttl_s": 6.0,
        "expires_at": "2026-11-21T12:00:06Z",
    }  # fmt: skip
    clock.advance(timedelta(seconds=5))
    beat = await client.put("/admin/v1/registrations", json={**BODY, "model": "l3"}, headers=ADMIN)
    assert beat.json()["expires_at"] == "2026-11-21T12:00:11Z"
    listed = await client.get("/admin/v1/registrations", params={"model": "l3"}, headers=REGISTRAR)
    assert [(r["model"], r["backend"]["name"]) for r in listed.json()["registrations"]] == [
        ("meta/llama", "gpu2")
    ]
    params = {"model": "meta/llama", "backend": "gpu2"}
    assert (await client.delete("/admin/v1/registrations", params=params, headers=REGISTRAR)).json() == {
        "removed": True
    }
    assert (await client.delete("/admin/v1/registrations", params=params, headers=ADMIN)).json() == {
        "removed": False
    }
    assert (await client.get("/admin/v1/registrations", headers=ADMIN)).json() == {"registrations": []}


async def test_an_expired_registration_is_not_listed(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await client.put("/admin/v1/registrations", json=BODY, headers=REGISTRAR)
    clock.advance(timedelta(seconds=6.5))
    assert (await client.get("/admin/v1/registrations", headers=ADMIN)).json() == {"registrations": []}


async def test_the_registration_token_opens_only_the_registration_routes(client: httpx.AsyncClient) -> None:
    for method, path in (("GET", "/admin/v1/models"), ("GET", "/admin/v1/keys"), ("GET", "/admin/v1/status")):
        refused = await client.request(method, path, headers=REGISTRAR)
        assert refused.status_code == 401, path
    for headers in ({}, {"Authorization": "Bearer " + "x" * 32}):
        refused = await client.put("/admin/v1/registrations", json=BODY, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_admin_token"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({**BODY, "model": "ghost"}, 404, "model 'ghost' is not in the registry"),
        ({**BODY, "backend": {"name": "gpu2", "base_url": "http://gpu.internal:8000/v1"}}, 422,
         "backend 'gpu2': a registered backend must be addressed by an IP literal or localhost, "
         "not 'gpu.internal' (DNS names need a registry backend)"),
        ({**BODY, "backend": {"name": "gpu2", "base_url": "http://10.0.0.2:8000"}}, 422,
         "backend 'gpu2': model 'meta/llama' is served as http://<host>:<port>/v1; "
         "'http://10.0.0.2:8000' has another scheme or base path"),
        ({**BODY, "backend": {"name": "static", "base_url": "http://10.0.0.2:8000/v1"}}, 422,
         "backend 'static': model 'meta/llama' has a registry backend of that name"),
        ({**BODY, "ttl_s": 1}, 422, "ttl_s: Input should be greater than or equal to 3"),
        ({**BODY, "backend": {"name": "GPU 2", "base_url": "http://10.0.0.2:8000/v1"}}, 422,
         "backend.name: String should match pattern"),
    ],
)  # fmt: skip
async def test_refusals_are_readable(
    client: httpx.AsyncClient, body: object, status: int, message: str
) -> None:
    response = await client.put("/admin/v1/registrations", json=body, headers=REGISTRAR)
    assert response.status_code == status
    assert response.json()["error"]["message"].startswith(message)


async def test_without_a_registration_store_the_routes_answer_503() -> None:
    registry = Registry(MemoryRegistryStore())
    app = create_app(
        registry_port=registry,
        xds_status=MemoryXdsStatusStore([]),
        keys_port=KeyStore(MemoryKeyRecords(), registry),
        usage_port=MemoryUsageReader(),
        admin_token="a" * 32,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admin") as c:
        response = await c.get("/admin/v1/registrations", headers=ADMIN)
        assert response.status_code == 503
        assert (await c.get("/admin/v1/registrations", headers=REGISTRAR)).status_code == 401

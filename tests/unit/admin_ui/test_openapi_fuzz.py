"""Property-based fuzzing of the admin JSON API from its own OpenAPI document (schemathesis + hypothesis).

Every operation in `/openapi.json` is called in-process over ASGI against an `AdminHarness` (in-memory
fakes, plus a secret box, a registrations service and a backend-health fake so no route answers "not
configured" and nothing touches the network), seeded with a plan, a tenant, a model, a price, a
credential, a key and a user so that path parameters sometimes name real objects.

Passes per operation, each deterministic (`derandomize=True`, no example database) and bounded:
- positive (schema-valid requests) with the admin token: never a 5xx; a 2xx conforms to the documented
  response schema; an error is an OpenAI-style `{"error": {...}}` body;
- negative (schema-violating requests) with the admin token: never a 5xx; errors OpenAI-style;
- no token: 401 (`invalid_admin_token`, `WWW-Authenticate: Bearer`) for every protected route, whatever
  the request; `/healthz` answers 200, and a URL no route matches (a path parameter with `/` or a line
  break) answers the router's 404;
- lone surrogates (JSON `\\udXXX` escapes schemathesis never generates), one body string at a time:
  never a 5xx.

About 40 s of CPU for the whole file (examples per pass below).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import Case, GenerationMode, Response
from schemathesis.python import asgi
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.routing import Match
from starlette.testclient import TestClient

from control_plane.model import NodeStatus, Snapshot
from control_plane.registrations import Registrations
from control_plane.secret_box import SecretBox, generate_key
from tests.support.fakes import ADMIN_TOKEN, AdminHarness, FakeClock
from tests.support.registration_fakes import MemoryRegistrationStore

__all__: list[str] = []

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
POSITIVE_EXAMPLES = 15  # per operation and pass
NEGATIVE_EXAMPLES = 15
ANONYMOUS_EXAMPLES = 5  # each sent three ways (no header, a wrong token, Basic credentials)
SLOW_TO_GENERATE = frozenset({("PUT", "/admin/v1/registry")})  # the whole registry: ~0.3 s per case
PUBLIC_PATHS = frozenset({"/healthz"})


class NoBackendHealth:
    """BackendHealthPort fake: no Envoy node is asked anything (the real client would use the network)."""

    async def nodes_health(self, nodes: list[NodeStatus], snapshot: Snapshot) -> list[Any]:
        return []


class Target:
    """A fuzzing target: an `AdminHarness` with every optional service configured, holding the seeded
    objects (a plan, a tenant, a credential, a model with a price, a user, a key)."""

    def __init__(self, seed_from: Target | None = None) -> None:
        clock = FakeClock(NOW)
        self.harness = AdminHarness(clock=clock)
        self.app = self.harness.app
        self.client: asgi.ASGIClient | None = None  # set by the `target` fixture
        self.app.state.secret_box = _SECRET_BOX
        self.app.state.backend_health = NoBackendHealth()
        registrations = Registrations(MemoryRegistrationStore(clock), self.harness.registry)
        self.app.state.services = replace(self.app.state.services, registrations=registrations)
        if seed_from is None:
            self.key_id = self._seed()
        else:  # a copy of the template's state: seeding over HTTP (argon2 included) is slow
            self.key_id = seed_from.key_id
            self.harness.store.snapshot = seed_from.harness.store.snapshot
            self.harness.records.keys = dict(seed_from.harness.records.keys)
            self.harness.user_store.users = dict(seed_from.harness.user_store.users)
        self.registry_version = self.harness.store.snapshot.version

    def _seed(self) -> str:
        with TestClient(self.app, base_url="http://admin", headers=AUTH) as client:

            def ok(response: Any) -> Any:
                assert response.status_code in (200, 201), response.text
                return response.json()

            ok(client.put("/admin/v1/plans/free", json={"name": "free"}))
            ok(client.put("/admin/v1/tenants/acme", json={"id": "acme", "plan": "free"}))
            ok(client.put("/admin/v1/credentials/openai", json={"value": "sk-test-0123456789"}))
            backend = {"name": "b1", "base_url": "http://10.0.0.1:8000/v1"}
            model = {
                "name": "meta/llama",
                "aliases": ["llama"],
                "backends": [backend],
                "upstream_credentials": ["openai"],
                "registration": {"allowed_networks": ["10.0.0.0/8"]},
            }
            ok(client.put("/admin/v1/models/meta/llama", json=model))
            price = {"model": "meta/llama", "effective_from": "2026-01-01T00:00:00Z", "input_per_1m_micro": 5}
            ok(client.put("/admin/v1/prices/meta/llama", json=price))
            user = {"username": "ops", "password": "correct-horse-battery", "role": "admin"}
            ok(client.post("/admin/v1/users", json=user))
            key: dict[str, Any] = ok(client.post("/admin/v1/keys", json={"tenant": "acme", "name": "ci"}))
            return str(key["key"]["id"])

    def known_path_parameters(self, path: str) -> dict[str, str]:
        """Path parameters naming the seeded objects, for the operation at `path`."""
        known = {"tenant_id": "acme", "model": "meta/llama", "key_id": self.key_id, "username": "ops"}
        if "{name}" in path:
            names = {"models": "meta/llama", "plans": "free", "credentials": "openai", "namespaces": "shared"}
            known["name"] = next((v for k, v in names.items() if f"/{k}/" in path), "x")
        return {name: value for name, value in known.items() if f"{{{name}}}" in path}


_SECRET_BOX = SecretBox(SecretStr(generate_key()))
_TEMPLATE = Target()
SCHEMA: BaseSchema = schemathesis.openapi.from_asgi("/openapi.json", _TEMPLATE.app)
OPERATIONS = [
    (method.upper(), path) for path, item in _TEMPLATE.app.openapi()["paths"].items() for method in item
]
IDS = [f"{method} {path}" for method, path in OPERATIONS]


@pytest.fixture
def target() -> Iterator[Target]:
    """A fresh copy of the seeded template, so every test starts from the same state."""
    target = Target(seed_from=_TEMPLATE)
    with asgi.get_client(target.app) as client:  # one in-process client (and lifespan) per test
        target.client = client
        yield target


def _examples(method: str, path: str, count: int) -> int:
    return max(3, count // 5) if (method, path) in SLOW_TO_GENERATE else count


def _strategy(target: Target, operation: APIOperation, mode: GenerationMode) -> st.SearchStrategy[Case]:
    """Cases with arbitrary path parameters, or with the seeded objects' names (real reads and writes)."""
    known = target.known_path_parameters(operation.path)
    arbitrary = operation.as_strategy(mode)
    if not known:
        return arbitrary
    return st.one_of(arbitrary, operation.as_strategy(mode, path_parameters=known))


def _run(examples: int, strategy: st.SearchStrategy[Case], check: Callable[[Case], None]) -> int:
    """Run `check` on up to `examples` cases from `strategy`, deterministically; how many it saw."""
    seen = 0

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def property_(case: Case) -> None:
        nonlocal seen
        seen += 1
        check(case)

    property_()
    return seen


def _describe(case: Case, response: Response) -> str:
    return f"{case.as_curl_command()}\n→ {response.status_code} {response.text[:500]}"


def _assert_error_body(case: Case, response: Response) -> None:
    """An OpenAI-style error: {"error": {"message", "type", "code", "param"}}."""
    body = response.json()
    assert isinstance(body, dict), _describe(case, response)
    assert set(body) == {"error"}, _describe(case, response)
    error = body["error"]
    assert isinstance(error, dict), _describe(case, response)
    assert {"message", "type", "code", "param"} <= set(error), _describe(case, response)
    assert all(isinstance(error[k], str) for k in ("message", "type", "code")), _describe(case, response)
    assert "Traceback" not in error["message"], _describe(case, response)


def _authorized_check(target: Target, *, validate_success: bool) -> Callable[[Case], None]:
    def check(case: Case) -> None:
        response = case.call(session=target.client, headers=AUTH)
        assert response.status_code < 500, _describe(case, response)
        if response.status_code >= 400:
            _assert_error_body(case, response)
        elif validate_success:
            case.validate_response(response, checks=[response_schema_conformance], headers=AUTH)

    return check


def _routable(target: Target, case: Case) -> bool:
    """Whether some route matches the URL the case sends: Starlette matches the decoded path, so a `/`
    in a `{name}` parameter, or a line break in any, reaches no route (the router's own 404)."""
    scope = {"type": "http", "path": unquote(case.formatted_path), "method": case.method.upper()}
    return any(route.matches(scope)[0] is not Match.NONE for route in target.app.router.routes)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_schema_valid_requests_never_fail_on_the_server(target: Target, method: str, path: str) -> None:
    operation = SCHEMA[path][method]
    strategy = _strategy(target, operation, GenerationMode.POSITIVE)
    examples = _examples(method, path, POSITIVE_EXAMPLES)
    assert _run(examples, strategy, _authorized_check(target, validate_success=True)) >= 1


PROTECTED = [(m, p) for m, p in OPERATIONS if p not in PUBLIC_PATHS]  # /healthz takes no input to violate


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_schema_violating_requests_are_refused_cleanly(target: Target, method: str, path: str) -> None:
    operation = SCHEMA[path][method]
    strategy = _strategy(target, operation, GenerationMode.NEGATIVE)
    _run(
        _examples(method, path, NEGATIVE_EXAMPLES),
        strategy,
        _authorized_check(target, validate_success=False),
    )


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=IDS)
def test_every_protected_operation_needs_the_token(target: Target, method: str, path: str) -> None:
    operation = SCHEMA[path][method]
    strategy = _strategy(target, operation, GenerationMode.POSITIVE)

    def check(case: Case) -> None:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": "Basic eDp5"}):
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            response = case.call(session=target.client, headers=headers)
            if path in PUBLIC_PATHS:
                assert response.status_code == 200, _describe(case, response)
                continue
            if not _routable(target, case):
                assert response.status_code == 404, _describe(case, response)
            else:
                assert response.status_code == 401, _describe(case, response)
                assert response.headers.get("www-authenticate") == ["Bearer"], _describe(case, response)
                assert response.json()["error"]["code"] == "invalid_admin_token", _describe(case, response)
            _assert_error_body(case, response)

    _run(_examples(method, path, ANONYMOUS_EXAMPLES), strategy, check)
    harness = target.harness
    assert harness.store.snapshot.version == target.registry_version, "a refused request wrote"
    assert (len(harness.records.keys), len(harness.user_store.users)) == (1, 1), "a refused request wrote"


def _string_paths(value: Any, at: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Where the strings are in a JSON value (dict keys and list indexes from the root)."""
    if isinstance(value, str):
        yield at
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*at, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_paths(item, (*at, key))


def _with_lone_surrogate(value: Any, at: tuple[str | int, ...]) -> Any:
    """A copy of `value` whose string at `at` ends in a lone surrogate (what a JSON `\\ud800` escape
    decodes to; schemathesis generates only encodable text)."""
    if not at:
        return value + "\ud800"
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[at[0]] = _with_lone_surrogate(value[at[0]], at[1:])  # type: ignore[index]
    return copy


BODY_OPERATIONS = [
    (m, p) for m, p in OPERATIONS if "requestBody" in _TEMPLATE.app.openapi()["paths"][p][m.lower()]
]


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS, ids=[f"{m} {p}" for m, p in BODY_OPERATIONS])
def test_lone_surrogates_in_bodies_are_refused_cleanly(target: Target, method: str, path: str) -> None:
    operation = SCHEMA[path][method]
    strategy = _strategy(target, operation, GenerationMode.POSITIVE)

    def check(case: Case) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=AUTH)
        body = kwargs.pop("json", None)
        kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
        assert target.client is not None
        for at in list(_string_paths(body))[:8]:  # one string at a time, so the others stay valid
            sent = json.dumps(_with_lone_surrogate(body, at))  # escaped: valid JSON text
            response = Response.from_any(target.client.request(**kwargs, data=sent))
            assert response.status_code < 500, f"{at}: {_describe(case, response)}"
            if response.status_code >= 400:
                _assert_error_body(case, response)

    _run(_examples(method, path, ANONYMOUS_EXAMPLES), strategy, check)

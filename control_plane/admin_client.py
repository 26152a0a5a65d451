"""A small synchronous client of the admin API, used by the CLI and the launcher."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from control_plane.model import Backend, Model, Plan, Price, RegistrySpec, Tenant
from control_plane.registry.document import RegistryDocument

__all__ = ["AdminClient", "AdminClientError"]


class AdminClientError(Exception):
    """The admin API refused a call or could not be reached; the message is for the operator."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def _body(model: Plan | Tenant | Price | Model) -> dict[str, Any]:
    # Only the fields that were given: a tenant's `overrides` mean exactly the limits it sets.
    return model.model_dump(mode="json", exclude_unset=True)


class AdminClient:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = 10.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    def close(self) -> None:
        self._http.close()

    # ---- registry ----------------------------------------------------------------------------------

    def models(self) -> dict[str, Any]:
        return self._call("GET", "/admin/v1/models")

    def put_model(self, model: Model) -> dict[str, Any]:
        return self._call("PUT", f"/admin/v1/models/{model.name}", model.model_dump(mode="json"))

    def remove_model(self, name: str) -> dict[str, Any]:
        return self._call("DELETE", f"/admin/v1/models/{name}")

    def apply(self, document: RegistryDocument | RegistrySpec) -> dict[str, Any]:
        """Sends only the sections the document sets; the registry keeps the others."""
        return self._call("PUT", "/admin/v1/registry", document.model_dump(mode="json", exclude_unset=True))

    def plans(self) -> dict[str, Any]:
        return self._call("GET", "/admin/v1/plans")

    def put_plan(self, plan: Plan) -> dict[str, Any]:
        return self._call("PUT", f"/admin/v1/plans/{plan.name}", _body(plan))

    def remove_plan(self, name: str) -> dict[str, Any]:
        return self._call("DELETE", f"/admin/v1/plans/{name}")

    def tenants(self) -> dict[str, Any]:
        return self._call("GET", "/admin/v1/tenants")

    def put_tenant(self, tenant: Tenant) -> dict[str, Any]:
        return self._call("PUT", f"/admin/v1/tenants/{tenant.id}", _body(tenant))

    def remove_tenant(self, tenant_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/admin/v1/tenants/{tenant_id}")

    def prices(self, model: str | None = None) -> dict[str, Any]:
        return self._call("GET", "/admin/v1/prices", params={"model": model} if model else None)

    def put_price(self, price: Price) -> dict[str, Any]:
        return self._call("PUT", f"/admin/v1/prices/{price.model}", _body(price))

    def remove_price(self, model: str, effective_from: datetime) -> dict[str, Any]:
        params = {"effective_from": effective_from.isoformat()}
        return self._call("DELETE", f"/admin/v1/prices/{model}", params=params)

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/admin/v1/status")

    def backend_health(self) -> dict[str, Any]:
        """Per connected Envoy node: each model's hosts, health flags and counters."""
        return self._call("GET", "/admin/v1/status/backends")

    # ---- upstream credentials (the value goes out once, in a PUT body; answers show a hint) --------

    def credentials(self) -> dict[str, Any]:
        return self._call("GET", "/admin/v1/credentials")

    def credential(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/admin/v1/credentials/{name}")

    def put_credential(
        self, name: str, value: SecretStr, *, header: str | None = None, prefix: str | None = None
    ) -> dict[str, Any]:
        """Create or rotate; `header`/`prefix` left None keep the server's defaults."""
        body: dict[str, str] = {"value": value.get_secret_value()}
        if header is not None:
            body["header"] = header
        if prefix is not None:
            body["prefix"] = prefix
        return self._call("PUT", f"/admin/v1/credentials/{name}", body)

    def remove_credential(self, name: str) -> dict[str, Any]:
        return self._call("DELETE", f"/admin/v1/credentials/{name}")

    # ---- keys and usage ----------------------------------------------------------------------------

    def create_key(
        self,
        tenant: str,
        *,
        name: str = "",
        allowed_models: list[str] | None = None,
        expires_at: datetime | None = None,
        expires_in_s: float | None = None,
    ) -> dict[str, Any]:
        """The new key and its secret (the only time the API returns it). `expires_in_s` counts from
        the server's clock."""
        body = {
            "tenant": tenant,
            "name": name,
            "allowed_models": allowed_models,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "expires_in_s": expires_in_s,
        }
        return self._call("POST", "/admin/v1/keys", body)

    def keys(self, tenant: str | None = None) -> dict[str, Any]:
        return self._call("GET", "/admin/v1/keys", params={"tenant": tenant} if tenant else None)

    def key(self, key_id: str) -> dict[str, Any]:
        return self._call("GET", f"/admin/v1/keys/{key_id}")

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        return self._call("POST", f"/admin/v1/keys/{key_id}/revoke", {})

    def rotate_key(self, key_id: str, grace_s: float) -> dict[str, Any]:
        return self._call("POST", f"/admin/v1/keys/{key_id}/rotate", {"grace_s": grace_s})

    def usage(self, tenant: str, month: str) -> dict[str, Any]:
        return self._call("GET", f"/admin/v1/usage/{tenant}", params={"month": month, "format": "json"})

    def usage_csv(self, tenant: str, month: str) -> str:
        params = {"month": month, "format": "csv"}
        return self._request("GET", f"/admin/v1/usage/{tenant}", None, params).text

    # ---- response cache ----------------------------------------------------------------------------

    def cache_stats(self, tenant: str | None = None) -> dict[str, Any]:
        """One tenant's cache counters, or (no tenant) `{"version", "tenants": [...]}` for every tenant."""
        if tenant is None:
            return self._call("GET", "/admin/v1/cache/stats")
        return self._call("GET", f"/admin/v1/tenants/{tenant}/cache")

    def reset_cache_stats(self, tenant: str) -> dict[str, Any]:
        """Zero a tenant's cache counters; the counters after the reset."""
        return self._call("POST", f"/admin/v1/tenants/{tenant}/cache/stats/reset", {})

    def purge_tenant_cache(self, tenant: str) -> dict[str, Any]:
        return self._call("POST", f"/admin/v1/tenants/{tenant}/cache/purge", {})

    def purge_cache_namespace(self, name: str) -> dict[str, Any]:
        return self._call("POST", f"/admin/v1/cache/namespaces/{name}/purge", {})

    # ---- self-registered backends -------------------------------------------------------------------

    def register_backend(self, model: str, backend: Backend, ttl_s: float) -> dict[str, Any]:
        """Register or heartbeat (the same call); the registration with its `expires_at`."""
        body = {
            "model": model,
            "backend": backend.model_dump(mode="json", exclude_unset=True),
            "ttl_s": ttl_s,
        }
        return self._call("PUT", "/admin/v1/registrations", body)

    def registrations(self, model: str | None = None) -> dict[str, Any]:
        return self._call("GET", "/admin/v1/registrations", params={"model": model} if model else None)

    def deregister_backend(self, model: str, backend: str) -> dict[str, Any]:
        return self._call("DELETE", "/admin/v1/registrations", params={"model": model, "backend": backend})

    # ---- admin UI users (a password goes out in a POST body; answers never carry it or its hash) -----

    def users(self) -> dict[str, Any]:
        return self._call("GET", "/admin/v1/users")

    def create_user(
        self, username: str, password: SecretStr, role: str, *, tenant: str | None = None
    ) -> dict[str, Any]:
        body = {"username": username, "password": password.get_secret_value(), "role": role, "tenant": tenant}
        return self._call("POST", "/admin/v1/users", body)

    def set_user_password(self, username: str, password: SecretStr) -> dict[str, Any]:
        body = {"password": password.get_secret_value()}
        return self._call("POST", f"/admin/v1/users/{username}/password", body)

    def disable_user(self, username: str) -> dict[str, Any]:
        return self._call("POST", f"/admin/v1/users/{username}/disable", {})

    def enable_user(self, username: str) -> dict[str, Any]:
        return self._call("POST", f"/admin/v1/users/{username}/enable", {})

    def delete_user(self, username: str) -> dict[str, Any]:
        return self._call("DELETE", f"/admin/v1/users/{username}")

    # ---- transport ---------------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, body: object | None = None, *, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        response = self._request(method, path, body, params)
        try:
            payload: dict[str, Any] = response.json()
        except ValueError:
            raise AdminClientError(
                f"admin API answered {response.status_code} without JSON", response.status_code
            ) from None
        return payload

    def _request(
        self, method: str, path: str, body: object | None, params: dict[str, str] | None
    ) -> httpx.Response:
        content = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else {}
        try:
            response = self._http.request(method, path, content=content, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise AdminClientError(f"cannot reach the admin API at {self._http.base_url}: {exc}") from None
        if response.status_code >= 400:
            try:
                error = response.json().get("error", {})
                message = error.get("message", response.text) if isinstance(error, dict) else response.text
            except (ValueError, AttributeError):
                message = response.text
            raise AdminClientError(f"{response.status_code}: {message}", response.status_code)
        return response

"""A small synchronous client of the admin API, used by the CLI."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from control_plane.model import Model, RegistrySpec

__all__ = ["AdminClient", "AdminClientError"]


class AdminClientError(Exception):
    """The admin API refused a call or could not be reached; the message is for the operator."""


class AdminClient:
    def __init__(self, base_url: str, token: str, *, timeout_s: float = 10.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    def close(self) -> None:
        self._http.close()

    def models(self) -> dict[str, Any]:
        return self._call("GET", "/admin/v1/models")

    def put_model(self, model: Model) -> dict[str, Any]:
        return self._call("PUT", f"/admin/v1/models/{model.name}", model.model_dump(mode="json"))

    def remove_model(self, name: str) -> dict[str, Any]:
        return self._call("DELETE", f"/admin/v1/models/{name}")

    def apply(self, spec: RegistrySpec) -> dict[str, Any]:
        return self._call("PUT", "/admin/v1/registry", spec.model_dump(mode="json"))

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/admin/v1/status")

    def _call(self, method: str, path: str, body: object | None = None) -> dict[str, Any]:
        content = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else {}
        try:
            response = self._http.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise AdminClientError(f"cannot reach the admin API at {self._http.base_url}: {exc}") from None
        try:
            payload: dict[str, Any] = response.json()
        except ValueError:
            raise AdminClientError(f"admin API answered {response.status_code} without JSON") from None
        if response.status_code >= 400:
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            raise AdminClientError(f"{response.status_code}: {error.get('message', response.text)}")
        return payload

"""The demo tenant for `tollway up`: plan, tenant, price and an API key whose secret lives in a 0600 file.

Idempotent: what exists is left as the operator may have changed it; the key in `<state>/demo-key` is
reused while it exists and is active, and replaced (file and all) otherwise. The key's id sits next to
it in `<state>/demo-key.id` (not a secret) so that reuse can be checked without the secret leaving
this machine. Secrets are never logged.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path

from control_plane.admin_client import AdminClient, AdminClientError
from control_plane.model import (
    Backend,
    Billing,
    BillingKind,
    CachePolicy,
    HealthCheck,
    Limits,
    Model,
    Plan,
    Price,
    Tenant,
    TrafficPolicy,
    display_prefix,
)

__all__ = ["DEMO_KEY_FILE", "DEMO_PLAN", "DEMO_TENANT", "demo_model", "seed_demo"]

DEMO_PLAN = "demo"
DEMO_TENANT = "demo"
DEMO_KEY_FILE = "demo-key"
_KEY_ID_FILE = "demo-key.id"
_PRICE_FROM = datetime(2024, 1, 1, tzinfo=UTC)  # fixed, so seeding twice is the same price version
_NOT_FOUND = 404


def demo_model(name: str, upstream_url: str) -> Model:
    """The demo model on the mock upstream at `upstream_url` (its OpenAI base URL, `…/v1`)."""
    return Model(
        name=name,
        description="Demo model served by Tollway's mock OpenAI upstream",
        backends=(Backend(name="mock", base_url=upstream_url),),
        traffic=TrafficPolicy(health_check=HealthCheck(path="/health")),
    )


def _demo_plan() -> Plan:
    return Plan(
        name=DEMO_PLAN,
        description="Demo plan created by `tollway up`: generous limits, billed per token",
        limits=Limits(requests_per_minute=600, tokens_per_minute=200_000, max_concurrent_requests=64),
        billing=Billing(kind=BillingKind.PER_TOKEN),
        cache=CachePolicy(enabled=True),  # exact + semantic, free hits: try a question twice
    )


def _write_secret_file(path: Path, secret: str) -> None:
    """Replace `path` atomically with a file created 0600 in one step (never readable by others)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secret + "\n")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _reusable(client: AdminClient, state_dir: Path) -> str | None:
    """The stored secret if its key still exists, is active, belongs to the demo tenant and matches."""
    key_file, id_file = state_dir / DEMO_KEY_FILE, state_dir / _KEY_ID_FILE
    if not (key_file.exists() and id_file.exists()):
        return None
    secret, key_id = key_file.read_text().strip(), id_file.read_text().strip()
    if not secret or not key_id:
        return None
    try:
        key = client.key(key_id)
    except AdminClientError as exc:
        if exc.status_code == _NOT_FOUND:
            return None
        raise
    usable = (
        key.get("state") == "active"
        and key.get("tenant") == DEMO_TENANT
        and key.get("rotated_to") is None
        and key.get("prefix") == display_prefix(secret)
    )
    return secret if usable else None


def seed_demo(client: AdminClient, state_dir: Path, model: str) -> str:
    """Ensure the demo plan, tenant, price for `model` and an active key exist; return the key's secret.

    (Synchronous because AdminClient is; the launcher calls it between starting admin and ext_proc.)
    """
    if not any(p["name"] == DEMO_PLAN for p in client.plans()["plans"]):
        client.put_plan(_demo_plan())
    if not any(t["id"] == DEMO_TENANT for t in client.tenants()["tenants"]):
        client.put_tenant(Tenant(id=DEMO_TENANT, name="Demo tenant", plan=DEMO_PLAN))
    if not client.prices(model)["prices"]:
        client.put_price(
            Price(
                model=model,
                effective_from=_PRICE_FROM,
                input_per_1m_micro=150_000,
                cached_input_per_1m_micro=75_000,
                output_per_1m_micro=600_000,
                cache_hit_per_1m_micro=30_000,
            )
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    secret = _reusable(client, state_dir)
    if secret is not None:
        return secret
    created = client.create_key(DEMO_TENANT, name="demo (tollway up)")
    secret = str(created["secret"])
    _write_secret_file(state_dir / DEMO_KEY_FILE, secret)
    (state_dir / _KEY_ID_FILE).write_text(str(created["key"]["id"]) + "\n")
    return secret

"""Builds the admin FastAPI app from its services (tests pass fakes; `run` passes Redis adapters)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from admin_ui.deps import Services
from admin_ui.errors import install_error_handlers
from admin_ui.ports import KeysPort, RegistryPort, UsagePort, XdsStatusPort
from admin_ui.routes import keys, models, plans, prices, registry, status, tenants, usage
from admin_ui.settings import AdminSettings
from control_plane.keystore import RedisKeyStore
from control_plane.redis_client import connect
from control_plane.registry import RedisRegistryStore, Registry
from control_plane.usage import RedisUsageReader
from control_plane.xds_status import RedisXdsStatusStore

__all__ = ["create_app", "run"]


def create_app(
    *,
    registry_port: RegistryPort,
    xds_status: XdsStatusPort,
    keys_port: KeysPort,
    usage_port: UsagePort,
    admin_token: str,
) -> FastAPI:
    app = FastAPI(
        title="Tollway admin API",
        version="0.1.0",
        description="Manage models, plans, tenants, prices and API keys; read usage and invoices; "
        "see what every Envoy node runs.",
    )
    app.state.services = Services(
        registry=registry_port,
        xds_status=xds_status,
        keys=keys_port,
        usage=usage_port,
        admin_token=admin_token,
    )
    install_error_handlers(app)
    routers = (models, plans, tenants, prices, keys, usage, registry, status)
    for module in routers:
        app.include_router(module.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def run(settings: AdminSettings) -> None:
    client = connect(settings.redis_url)
    registry_service = Registry(RedisRegistryStore(client))
    app = create_app(
        registry_port=registry_service,
        xds_status=RedisXdsStatusStore(client),
        keys_port=RedisKeyStore(client, registry_service),
        usage_port=RedisUsageReader(client),
        admin_token=settings.token.get_secret_value(),
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        loop="uvloop",
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        await client.aclose()

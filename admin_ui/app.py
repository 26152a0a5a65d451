"""Builds the admin FastAPI app from its services (tests pass fakes; `run` passes Redis adapters), with
the browser UI (`admin_ui.web`) mounted when its services are given."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from admin_ui.deps import Services
from admin_ui.errors import install_error_handlers
from admin_ui.ports import (
    AuditPort,
    BackendHealthPort,
    CachePort,
    KeysPort,
    RegistrationsPort,
    RegistryPort,
    TrafficStatsPort,
    UsagePort,
    UsersPort,
    XdsStatusPort,
)
from admin_ui.routes import cache as cache_routes
from admin_ui.routes import credentials, keys, models, plans, prices, registry, status, tenants, usage
from admin_ui.routes import registrations as registrations_routes
from admin_ui.routes import users as users_routes
from admin_ui.settings import AdminSettings
from admin_ui.web.context import WebServices, web_services
from admin_ui.web.routes import install_ui
from control_plane.admin_users import AdminUsers, RedisAdminUserStore
from control_plane.audit import RedisAuditLog
from control_plane.cache_admin import CacheAdmin
from control_plane.envoy_admin import EnvoyAdminClient
from control_plane.keystore import RedisKeyStore
from control_plane.redis_client import connect
from control_plane.registrations import RedisRegistrationStore, Registrations
from control_plane.registry import RedisRegistryStore, Registry
from control_plane.secret_box import SecretBox
from control_plane.traffic_stats import RedisTrafficStats
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
    secret_box: SecretBox | None = None,
    registrations_port: RegistrationsPort | None = None,
    registration_token: str = "",
    backend_health: BackendHealthPort | None = None,
    cache_port: CachePort | None = None,
    users_port: UsersPort | None = None,
    audit_port: AuditPort | None = None,
    traffic_port: TrafficStatsPort | None = None,
    web: WebServices | None = None,
) -> FastAPI:
    """The admin app: the JSON API (admin token) and, when `web` is given, the browser UI under `/ui`."""
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
        registrations=registrations_port,
        registration_token=registration_token,
        cache=cache_port,  # None: the cache routes answer 503
        users=users_port,  # None: the /admin/v1/users routes answer 503
        audit=audit_port,  # None: changes are not audited
        traffic=traffic_port,  # None: no traffic charts
    )
    app.state.secret_box = secret_box  # None: credential writes answer 503 (see routes/credentials.py)
    app.state.backend_health = backend_health or EnvoyAdminClient()  # see routes/status.py
    install_error_handlers(app)
    routers = (models, plans, tenants, prices, keys, usage, registry, status, credentials)
    for module in routers:
        app.include_router(module.router)
    app.include_router(registrations_routes.router)
    app.include_router(cache_routes.router)
    app.include_router(users_routes.router)
    if web is not None:
        install_ui(app, web)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def run(settings: AdminSettings) -> None:
    client = connect(settings.redis_url)
    cache_client = (
        connect(settings.cache_redis_url)
        if settings.cache_redis_url is not None and settings.cache_redis_url != settings.redis_url
        else client
    )
    registry_service = Registry(RedisRegistryStore(client))
    app = create_app(
        registry_port=registry_service,
        xds_status=RedisXdsStatusStore(client),
        keys_port=RedisKeyStore(client, registry_service),
        usage_port=RedisUsageReader(client),
        admin_token=settings.token.get_secret_value(),
        secret_box=SecretBox(settings.secret_key) if settings.secret_key is not None else None,
        registrations_port=Registrations(RedisRegistrationStore(client), registry_service),
        registration_token=(
            settings.registration_token.get_secret_value() if settings.registration_token is not None else ""
        ),
        cache_port=CacheAdmin(client, entries=cache_client),
        users_port=AdminUsers(RedisAdminUserStore(client)),
        audit_port=RedisAuditLog(client),
        traffic_port=RedisTrafficStats(client),
        web=web_services(settings, client),
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
        if cache_client is not client:
            await cache_client.aclose()
        await client.aclose()

"""The admin UI's pages, one router per area; `admin_ui.web.routes.install_ui` mounts them all."""

from fastapi import APIRouter

from admin_ui.web.pages import dashboard, keys, models, operations, plans, prices, tenants

__all__ = ["PAGE_ROUTERS"]

PAGE_ROUTERS: tuple[APIRouter, ...] = (
    dashboard.router,
    tenants.router,
    keys.router,
    plans.router,
    models.router,
    prices.router,
    operations.router,
)

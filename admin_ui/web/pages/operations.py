"""Operations: cache stats and purge (/ui/cache), control-plane status (/ui/status: Envoy nodes, ACKed
versions per resource type, last NACK, backend health), the audit log (/ui/audit) and UI users
(/ui/users). Each area is its own module; this router mounts them under `/ui`.
"""

from __future__ import annotations

from fastapi import APIRouter

from admin_ui.web.context import UI_PATH
from admin_ui.web.guards import UiRoute
from admin_ui.web.pages import audit_page, cache_page, status_page, users_page

__all__ = ["router"]

router = APIRouter(prefix=UI_PATH, route_class=UiRoute, include_in_schema=False)
router.include_router(cache_page.router)
router.include_router(status_page.router)
router.include_router(audit_page.router)
router.include_router(users_page.router)

"""Request-headers work shared by every authenticated endpoint: who calls, and under which policy."""

from __future__ import annotations

from dataclasses import dataclass

from control_plane.model import GATEWAY_HEADER_PREFIX, TenantStatus
from ext_proc.errors import InvalidApiKeyError, PermissionDeniedError, RegistryUnavailableError
from ext_proc.exchange import HeadersEvent
from ext_proc.governance.contracts import Principal, TenantPolicy
from ext_proc.services import GatewayServices

__all__ = ["Caller", "gateway_headers_of", "identify", "model_allowed"]


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    policy: TenantPolicy


def gateway_headers_of(event: HeadersEvent) -> tuple[str, ...]:
    """The client's copies of gateway-owned headers, to be removed before anything reads them."""
    return tuple(name for name in event.headers if name.startswith(GATEWAY_HEADER_PREFIX))


async def identify(
    services: GatewayServices, event: HeadersEvent
) -> tuple[Caller, PermissionDeniedError | None]:
    """The authenticated caller, and the refusal to send if its tenant may not call at all.

    Raises for callers without a valid key (401/503): those get no ledger record. A suspended tenant
    is returned with its refusal so that the caller can record it before refusing.
    """
    principal = await services.authenticator.authenticate(event.headers)
    table = services.policies.current
    if table is None:
        raise RegistryUnavailableError()
    policy = table.policy(principal.tenant)
    if policy is None:  # the key outlived its tenant
        raise InvalidApiKeyError()
    caller = Caller(principal, policy)
    if policy.tenant.status is not TenantStatus.ACTIVE:
        return caller, PermissionDeniedError.tenant_suspended()
    return caller, None


def model_allowed(caller: Caller, model: str) -> bool:
    """May this caller use `model` (canonical name)? Both the plan and the key must allow it."""
    allowed = caller.principal.allowed_models
    return caller.policy.plan.allows_model(model) and (allowed is None or model in allowed)

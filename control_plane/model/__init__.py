"""THE domain model: frozen pydantic values, no I/O. Every Tollway package may import it."""

from control_plane.model.admin_user import AdminRole, AdminUser, AuditEntry, Username
from control_plane.model.api_key import (
    KEY_SECRET_PREFIX,
    ApiKey,
    KeyId,
    KeyState,
    display_prefix,
    hash_secret,
    new_key_id,
    new_key_secret,
)
from control_plane.model.backend import Backend, BackendName, ProviderKind
from control_plane.model.backend_health import (
    MODEL_CLUSTER_PREFIX,
    ClusterHealth,
    HostHealth,
    HostState,
    NodeHealth,
    host_state,
)
from control_plane.model.body_limits import (
    DEFAULT_MAX_REQUEST_BYTES,
    GRPC_MESSAGE_HEADROOM_BYTES,
    MAX_REQUEST_BYTES_CEILING,
    ext_proc_message_limit,
)
from control_plane.model.cache_policy import (
    DEFAULT_CACHE_POLICY,
    CacheLayer,
    CacheNamespace,
    CachePolicy,
    CacheSettings,
    HitBilling,
    resolve_cache_policy,
)
from control_plane.model.cache_stats import CacheStats
from control_plane.model.credential import CredentialName, UpstreamCredential, mask_secret
from control_plane.model.headers import (
    BACKEND_HEADER,
    CACHE_HEADER,
    CACHE_LAYER_HEADER,
    CACHE_SIMILARITY_HEADER,
    CLIENT_CREDENTIAL_HEADERS,
    GATEWAY_HEADER_PREFIX,
    MODEL_HEADER,
    STREAM_HEADER,
    TENANT_HEADER,
)
from control_plane.model.ledger import LedgerRecord, RequestOutcome
from control_plane.model.model import Model, ModelName
from control_plane.model.plan import Billing, BillingKind, Limits, Plan, PlanName
from control_plane.model.price import PICO_PER_MICRO, Price, cache_hit_cost_pico, price_at, token_cost_pico
from control_plane.model.registration import BackendRegistration, registration_problems
from control_plane.model.registration_policy import RegistrationPolicy
from control_plane.model.snapshot import RegistrySpec, Snapshot
from control_plane.model.tenant import Tenant, TenantId, TenantStatus
from control_plane.model.traffic import (
    CircuitBreakers,
    HealthCheck,
    LbPolicy,
    LoadBalancing,
    OutlierDetection,
    RetryCondition,
    RetryPolicy,
    Timeouts,
    TrafficPolicy,
)
from control_plane.model.traffic_stats import (
    LATENCY_BUCKETS_MS,
    TopEntry,
    TrafficBucket,
    TrafficSeries,
    TrafficWindow,
)
from control_plane.model.xds_status import Nack, NodeStatus, ResourceStatus

__all__ = [
    "BACKEND_HEADER",
    "CACHE_HEADER",
    "CACHE_LAYER_HEADER",
    "CACHE_SIMILARITY_HEADER",
    "CLIENT_CREDENTIAL_HEADERS",
    "DEFAULT_CACHE_POLICY",
    "DEFAULT_MAX_REQUEST_BYTES",
    "GATEWAY_HEADER_PREFIX",
    "GRPC_MESSAGE_HEADROOM_BYTES",
    "KEY_SECRET_PREFIX",
    "LATENCY_BUCKETS_MS",
    "MAX_REQUEST_BYTES_CEILING",
    "MODEL_CLUSTER_PREFIX",
    "MODEL_HEADER",
    "PICO_PER_MICRO",
    "STREAM_HEADER",
    "TENANT_HEADER",
    "AdminRole",
    "AdminUser",
    "ApiKey",
    "AuditEntry",
    "Backend",
    "BackendName",
    "BackendRegistration",
    "Billing",
    "BillingKind",
    "CacheLayer",
    "CacheNamespace",
    "CachePolicy",
    "CacheSettings",
    "CacheStats",
    "CircuitBreakers",
    "ClusterHealth",
    "CredentialName",
    "HealthCheck",
    "HitBilling",
    "HostHealth",
    "HostState",
    "KeyId",
    "KeyState",
    "LbPolicy",
    "LedgerRecord",
    "Limits",
    "LoadBalancing",
    "Model",
    "ModelName",
    "Nack",
    "NodeHealth",
    "NodeStatus",
    "OutlierDetection",
    "Plan",
    "PlanName",
    "Price",
    "ProviderKind",
    "RegistrationPolicy",
    "RegistrySpec",
    "RequestOutcome",
    "ResourceStatus",
    "RetryCondition",
    "RetryPolicy",
    "Snapshot",
    "Tenant",
    "TenantId",
    "TenantStatus",
    "Timeouts",
    "TopEntry",
    "TrafficBucket",
    "TrafficPolicy",
    "TrafficSeries",
    "TrafficWindow",
    "UpstreamCredential",
    "Username",
    "cache_hit_cost_pico",
    "display_prefix",
    "ext_proc_message_limit",
    "hash_secret",
    "host_state",
    "mask_secret",
    "new_key_id",
    "new_key_secret",
    "price_at",
    "registration_problems",
    "resolve_cache_policy",
    "token_cost_pico",
]

"""A model's retry policy → Envoy's route RetryPolicy (one per route: streams and non-streams differ only
in the per-try timeout)."""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.route.v3 import (
    RetryPolicy,
    RetryPolicyRateLimitedRetryBackOff,
    RetryPolicyResetHeader,
    RetryPolicyResetHeaderFormat,
    RetryPolicyRetryBackOff,
    RetryPolicyRetryHostPredicate,
    RetryPolicyRetryPriority,
)
from envoy_data_plane.envoy.extensions.retry.host.previous_hosts.v3 import PreviousHostsPredicate
from envoy_data_plane.envoy.extensions.retry.priority.previous_priorities.v3 import PreviousPrioritiesConfig
from envoy_data_plane.google.protobuf import Any

from control_plane.model import Model
from xds.translate.config_source import seconds

__all__ = ["retry_policy"]

_PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts"
_PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities"
_RETRY_AFTER = "retry-after"
# How often the load balancer may re-pick when it lands on a host already tried.
_HOST_SELECTION_ATTEMPTS = 5


def retry_policy(model: Model, *, stream: bool) -> RetryPolicy | None:
    """None when the model does not retry. `stream` picks the per-try timeout: time to the response
    headers for streams (`first_byte_s`), the whole answer for non-streamed requests (`response_s`)."""
    retry = model.traffic.retry
    timeouts = model.traffic.timeouts
    if retry.attempts == 0:
        return None
    policy = RetryPolicy(
        retry_on=",".join(condition.value for condition in retry.retry_on),
        num_retries=retry.attempts,
        retriable_status_codes=list(retry.retriable_status_codes),
        retry_back_off=RetryPolicyRetryBackOff(
            base_interval=timedelta(milliseconds=retry.backoff_base_ms),
            max_interval=timedelta(milliseconds=retry.backoff_max_ms),
        ),
        host_selection_retry_max_attempts=_HOST_SELECTION_ATTEMPTS,
    )
    per_try = timeouts.first_byte_s if stream else timeouts.response_s
    if per_try is not None:
        policy.per_try_timeout = seconds(per_try)
    if retry.honor_retry_after:
        policy.rate_limited_retry_back_off = RetryPolicyRateLimitedRetryBackOff(
            reset_headers=[
                RetryPolicyResetHeader(name=_RETRY_AFTER, format=RetryPolicyResetHeaderFormat.SECONDS)
            ],
            max_interval=seconds(retry.retry_after_max_s),
        )
    if retry.other_host:
        policy.retry_host_predicate = [
            RetryPolicyRetryHostPredicate(
                name=_PREVIOUS_HOSTS, typed_config=Any.pack(PreviousHostsPredicate())
            )
        ]
    if model.priorities > 1:
        # After `tries_per_priority` tries on a priority, a retry goes to the next one: a request whose
        # primary is down is served by the fallback at once, before outlier detection has ejected it.
        policy.retry_priority = RetryPolicyRetryPriority(
            name=_PREVIOUS_PRIORITIES,
            typed_config=Any.pack(PreviousPrioritiesConfig(update_frequency=retry.tries_per_priority)),
        )
    return policy

"""Small building blocks shared by the translators."""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.core.v3 import AggregatedConfigSource, ApiVersion, ConfigSource

__all__ = ["ads_config_source", "seconds"]


def seconds(value: float) -> timedelta:
    """A registry duration (float seconds) as a protobuf Duration."""
    return timedelta(seconds=value)


def ads_config_source() -> ConfigSource:
    """ "Fetch this over the same ADS stream" (EDS of a cluster, RDS of a listener)."""
    return ConfigSource(ads=AggregatedConfigSource(), resource_api_version=ApiVersion.V3)

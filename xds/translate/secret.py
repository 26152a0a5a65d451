"""Registry credentials → SDS generic secrets, and the upstream filters that add them to requests.

The clear value exists only here, in xds's memory and in Envoy's: the registry holds it sealed, Envoy
receives it over ADS as an SDS `Secret` (its config dump prints `[redacted]`), and a
`credential_injector` upstream filter on the model's cluster writes it into each upstream request,
overwriting whatever the client sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from envoy_data_plane.envoy.config.core.v3 import DataSource, TypedExtensionConfig
from envoy_data_plane.envoy.extensions.filters.http.credential_injector.v3 import CredentialInjector
from envoy_data_plane.envoy.extensions.filters.http.upstream_codec.v3 import UpstreamCodec
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import HttpFilter
from envoy_data_plane.envoy.extensions.http.injected_credentials.generic.v3 import Generic
from envoy_data_plane.envoy.extensions.transport_sockets.tls.v3 import GenericSecret, SdsSecretConfig, Secret
from envoy_data_plane.google.protobuf import Any

from control_plane.model import Model, RegistrySpec, UpstreamCredential
from xds.translate.config_source import ads_config_source

__all__ = ["SecretOpener", "credential_filters", "credential_secrets", "secret_name"]

SecretOpener = Callable[[UpstreamCredential], str]
"""Returns a credential's clear value (raises when it cannot: wrong key, corrupt value)."""

_CREDENTIAL_INJECTOR = "envoy.filters.http.credential_injector"
_GENERIC_CREDENTIAL = "envoy.http.injected_credentials.generic"
_UPSTREAM_CODEC = "envoy.filters.http.upstream_codec"


def secret_name(credential_name: str) -> str:
    return f"credential.{credential_name}"


def credential_secrets(spec: RegistrySpec, open_secret: SecretOpener) -> Mapping[str, Secret]:
    """One SDS secret per credential some model uses (unused ones stay sealed, even in xds)."""
    used = sorted({name for model in spec.models for name in model.upstream_credentials})
    secrets: dict[str, Secret] = {}
    for name in used:
        credential = spec.credential(name)
        if credential is None:  # the registry's consistency check forbids this
            raise ValueError(f"credential {name!r} is not in the registry")
        value = credential.prefix + open_secret(credential)
        secrets[secret_name(name)] = Secret(
            name=secret_name(name), generic_secret=GenericSecret(secret=DataSource(inline_string=value))
        )
    return secrets


def _injector(credential: UpstreamCredential) -> HttpFilter:
    generic = Generic(
        credential=SdsSecretConfig(name=secret_name(credential.name), sds_config=ads_config_source()),
        header=credential.header,
    )
    injector = CredentialInjector(
        overwrite=True,
        allow_request_without_credential=False,
        credential=TypedExtensionConfig(name=_GENERIC_CREDENTIAL, typed_config=Any.pack(generic)),
    )
    return HttpFilter(name=f"{_CREDENTIAL_INJECTOR}.{credential.name}", typed_config=Any.pack(injector))


def credential_filters(model: Model, spec: RegistrySpec) -> list[HttpFilter]:
    """The cluster's upstream filter chain (empty: Envoy's default, no credentials)."""
    credentials = [spec.credential(name) for name in model.upstream_credentials]
    injectors = [_injector(c) for c in credentials if c is not None]
    if not injectors:
        return []
    return [*injectors, HttpFilter(name=_UPSTREAM_CODEC, typed_config=Any.pack(UpstreamCodec()))]

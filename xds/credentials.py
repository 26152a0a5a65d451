"""How xds opens the registry's sealed upstream credentials for translation (and only there).

A credential that cannot be opened (xds has no key, or another key than the admin API) makes the whole
registry version untranslatable: the cache keeps serving the last good one and logs the credential's
name, never a value. Serving a model without its credential would only trade a loud error for 401s
from the provider.
"""

from __future__ import annotations

from functools import partial

from pydantic import SecretStr

from control_plane.errors import SecretBoxError
from control_plane.model import UpstreamCredential
from control_plane.secret_box import SecretBox
from xds.cache import Translator
from xds.translate import SecretOpener, translate

__all__ = ["credential_opener", "translator"]


def credential_opener(key: SecretStr | None) -> SecretOpener:
    box = SecretBox(key) if key is not None else None

    def open_credential(credential: UpstreamCredential) -> str:
        if box is None:
            raise ValueError(
                f"credential {credential.name!r} cannot be opened: TOLLWAY_XDS_SECRET_KEY is not set"
            )
        try:
            return box.open(credential.sealed_value)
        except SecretBoxError:
            raise ValueError(
                f"credential {credential.name!r} cannot be opened with this secret key"
            ) from None

    return open_credential


def translator(key: SecretStr | None) -> Translator:
    """`translate` with this deployment's credential opener."""
    return partial(translate, open_secret=credential_opener(key))

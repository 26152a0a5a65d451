"""Sealing secrets with the deployment's secret key, so the registry (Redis) only ever holds ciphertext.

The key is Fernet's (AES-128-CBC + HMAC-SHA256 over a versioned, timestamped token). A key setting may
hold several keys separated by commas: the first one seals, every one of them opens. To rotate: put a new
key first, re-put (or `reseal`) every credential, then drop the old key.

The admin process seals what an operator sends; xds opens it to hand Envoy the clear value over SDS.
Nothing here logs, and no error message carries a secret, a key or a sealed value.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from control_plane.errors import SecretKeyError, SecretUnreadableError

__all__ = ["SecretBox", "generate_key"]

_KEY_HELP = "a key is 32 url-safe base64-encoded bytes; `tollway credentials generate-key` prints a new one"


def generate_key() -> str:
    """A new random key (44 characters of url-safe base64)."""
    return Fernet.generate_key().decode("ascii")


def _fernets(key: SecretStr) -> list[Fernet]:
    parts = [part.strip() for part in key.get_secret_value().split(",")]
    if not any(parts):
        raise SecretKeyError(f"the secret key is empty; {_KEY_HELP}")
    fernets = []
    for index, part in enumerate(parts, start=1):
        try:
            fernets.append(Fernet(part.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise SecretKeyError(
                f"secret key number {index} of {len(parts)} is malformed; {_KEY_HELP}"
            ) from None
    return fernets


class SecretBox:
    """Seals and opens strings; `SecretBox(SecretStr("new-key,old-key"))` opens values sealed with either."""

    __slots__ = ("_fernet", "_keys")

    def __init__(self, key: SecretStr) -> None:
        fernets = _fernets(key)
        self._keys = len(fernets)
        self._fernet = MultiFernet(fernets)

    def __repr__(self) -> str:
        return f"SecretBox(keys={self._keys})"

    def seal(self, clear: str) -> str:
        """`clear` encrypted with the first key (a different ciphertext every call)."""
        return self._fernet.encrypt(clear.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        """The clear text of `sealed`; `SecretUnreadableError` when no key opens it (or it was altered)."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadableError(
                "a sealed secret does not open with the configured secret key(s): the key changed or the "
                "value is corrupt; put the credential again"
            ) from None

    def reseal(self, sealed: str) -> str:
        """`sealed` sealed again with the first key (for key rotation); same errors as `open`."""
        try:
            return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadableError(
                "a sealed secret does not open with the configured secret key(s): the key changed or the "
                "value is corrupt; put the credential again"
            ) from None

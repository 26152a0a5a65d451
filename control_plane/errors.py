"""The control plane's error tree. Messages are written for operators and are safe to show them.

TollwayError
├── RegistryError
│   ├── RegistryValidationError   a write that breaks a rule; nothing was stored
│   ├── RegistryNotFoundError     the named object does not exist
│   └── RegistryConflictError     the registry kept changing under a write; retry
├── KeyStoreError
│   ├── KeyValidationError        a key request that breaks a rule (unknown tenant/model, past expiry)
│   ├── KeyNotFoundError          no key has this id
│   └── KeyStateError             the key's state forbids the operation (rotating a revoked key)
├── UsageError
│   └── UsagePeriodError          a usage period that is not `YYYY-MM`
├── SecretBoxError
│   ├── SecretKeyError            no deployment secret key is configured, or it is malformed
│   └── SecretUnreadableError     a sealed value does not open with the key (wrong key or corrupt)
├── AdminUserError
│   ├── AdminUserValidationError  a user or password that breaks a rule (password policy, role/tenant)
│   ├── AdminUserNotFoundError    no admin UI user has this username
│   └── AdminUserExistsError      a user with this username already exists
└── StoreUnavailableError         Redis/Valkey cannot be reached
"""

from __future__ import annotations

__all__ = [
    "AdminUserError",
    "AdminUserExistsError",
    "AdminUserNotFoundError",
    "AdminUserValidationError",
    "KeyNotFoundError",
    "KeyStateError",
    "KeyStoreError",
    "KeyValidationError",
    "RegistryConflictError",
    "RegistryError",
    "RegistryNotFoundError",
    "RegistryValidationError",
    "SecretBoxError",
    "SecretKeyError",
    "SecretUnreadableError",
    "StoreUnavailableError",
    "TollwayError",
    "UsageError",
    "UsagePeriodError",
]


class TollwayError(Exception):
    """Base of every error Tollway raises on purpose; `str(error)` is safe to show an operator."""


class RegistryError(TollwayError):
    pass


class RegistryValidationError(RegistryError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class RegistryNotFoundError(RegistryError):
    pass


class RegistryConflictError(RegistryError):
    pass


class KeyStoreError(TollwayError):
    pass


class KeyValidationError(KeyStoreError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class KeyNotFoundError(KeyStoreError):
    pass


class KeyStateError(KeyStoreError):
    pass


class UsageError(TollwayError):
    pass


class UsagePeriodError(UsageError):
    pass


class SecretBoxError(TollwayError):
    """Sealing or opening a secret failed; messages never contain the secret, the key or the ciphertext."""


class SecretKeyError(SecretBoxError):
    pass


class SecretUnreadableError(SecretBoxError):
    pass


class AdminUserError(TollwayError):
    """A request about an admin UI user failed; messages never contain a password or its hash."""


class AdminUserValidationError(AdminUserError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class AdminUserNotFoundError(AdminUserError):
    pass


class AdminUserExistsError(AdminUserError):
    pass


class StoreUnavailableError(TollwayError):
    pass

"""Imports envoy_data_plane once with its import-time pydantic deprecation warnings silenced.

envoy_data_plane 2.2.0 decorates classmethods with `@model_validator(mode="after")`, which pydantic 2.12+
reports as `PydanticDeprecatedSince212` while the classes are created; the project's
`filterwarnings = ["error", ...]` would turn that into a collection error. The warnings are about the
library's own source, not about how xds uses it, so they are ignored here, at import time only.
"""

from __future__ import annotations

import importlib
import warnings

_MODULES = ("xds.translate", "xds.cache", "xds.stream", "xds.server", "xds.app", "xds.settings")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    for _module in _MODULES:
        importlib.import_module(_module)

"""The registry compiled for the hot path: name/alias lookup and pre-rendered `/v1/models` bodies.

A `Snapshot` is compiled once into a frozen `ModelTable`; `ModelTableHolder` swaps the table the
processors read with one attribute assignment (atomic on the event loop). A snapshot that fails to
compile is logged and the previous table stays in service.

OpenAI model objects carry a `created` Unix time; the registry keeps none, so it is 0 for every entry
(the same on every ext_proc replica).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import orjson

from control_plane.model import CachePolicy, Snapshot

__all__ = ["ModelTable", "ModelTableHolder", "TableCompileError", "compile_model_table"]

_logger = logging.getLogger(__name__)

MODEL_CREATED = 0


class TableCompileError(ValueError):
    """The snapshot cannot be turned into a lookup table (e.g. two models claim one name)."""


@dataclass(frozen=True, slots=True)
class ModelTable:
    """Everything the processors need from one registry version, ready to serve."""

    version: int
    canonical_names: Mapping[str, str]
    """Every model name and alias → the model's canonical name."""
    model_list_body: bytes
    """The `GET /v1/models` response body: names and aliases, each as its own entry."""
    model_bodies: Mapping[str, bytes]
    """Model name or alias → the `GET /v1/models/{id}` response body."""
    cache_policies: Mapping[str, CachePolicy] = field(default_factory=dict)
    """Canonical model name → its response-cache policy (models without one are absent)."""

    def canonical_name(self, name: str) -> str | None:
        return self.canonical_names.get(name)


def compile_model_table(snapshot: Snapshot) -> ModelTable:
    canonical: dict[str, str] = {}
    entries: list[dict[str, object]] = []
    bodies: dict[str, bytes] = {}
    cache_policies: dict[str, CachePolicy] = {}
    for model in snapshot.models:
        if model.cache is not None:
            cache_policies[model.name] = model.cache
        for model_id in (model.name, *model.aliases):
            if not model_id:
                raise TableCompileError(f"model {model.name!r} has an empty name or alias")
            if model_id in canonical:
                raise TableCompileError(
                    f"name {model_id!r} is claimed by both {canonical[model_id]!r} and {model.name!r}"
                )
            canonical[model_id] = model.name
            entry: dict[str, object] = {
                "id": model_id,
                "object": "model",
                "created": MODEL_CREATED,
                "owned_by": model.owned_by,
            }
            entries.append(entry)
            bodies[model_id] = orjson.dumps(entry)
    return ModelTable(
        version=snapshot.version,
        canonical_names=MappingProxyType(canonical),
        model_list_body=orjson.dumps({"object": "list", "data": entries}),
        model_bodies=MappingProxyType(bodies),
        cache_policies=MappingProxyType(cache_policies),
    )


class ModelTableHolder:
    """The table in service; None until the first snapshot compiles."""

    def __init__(self, table: ModelTable | None = None) -> None:
        self._table = table

    @property
    def current(self) -> ModelTable | None:
        return self._table

    def load(self, snapshot: Snapshot) -> bool:
        """Compile `snapshot` and put it in service; on failure keep the previous table, return False."""
        try:
            table = compile_model_table(snapshot)
        except TableCompileError as exc:
            kept = self._table.version if self._table is not None else None
            _logger.error(
                "registry snapshot v%s does not compile (%s); keeping table v%s", snapshot.version, exc, kept
            )
            return False
        self._table = table
        _logger.info("registry table v%s in service: %d model ids", table.version, len(table.canonical_names))
        return True

"""A go-control-plane-style snapshot cache: translated resources with a version per resource type.

A type's version changes only when its content changed, so Envoy is sent only what is new. Nodes that
ask for their own listener port (node metadata `tollway.listener_port`) get their own view, translated
from the same registry snapshot. `set_snapshot` refuses an inconsistent translation and keeps the last
good one; an accepted change wakes every stream waiting in `wait_for_change`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from envoy_data_plane.google.protobuf import Any

from control_plane.model import Snapshot
from xds.resource_type import ResourceType
from xds.translate import Resources, TranslateOptions, translate

__all__ = ["CacheView", "SnapshotCache", "Translator", "TypeSnapshot"]

_log = logging.getLogger(__name__)

Translator = Callable[[Snapshot, TranslateOptions], Resources]


@dataclass(frozen=True, slots=True)
class TypeSnapshot:
    """The resources of one type, packed once, with the version Envoy acknowledges."""

    version: str
    resources: Mapping[str, Any]

    def same_content(self, other: Mapping[str, Any]) -> bool:
        mine = self.resources
        return mine.keys() == other.keys() and all(mine[n].value == other[n].value for n in mine)


@dataclass(frozen=True, slots=True)
class CacheView:
    """Everything one Envoy node is served, from one registry version."""

    registry_version: int
    listener_port: int
    types: Mapping[ResourceType, TypeSnapshot]

    def version(self, resource_type: ResourceType) -> str:
        return self.types[resource_type].version

    def resources(self, resource_type: ResourceType, names: Iterable[str] | None = None) -> list[Any]:
        """All resources of the type (`names=None`, wildcard), or only the requested ones that exist."""
        available = self.types[resource_type].resources
        if names is None:
            return list(available.values())
        return [available[n] for n in sorted(set(names)) if n in available]


def _pack(resources: Resources, resource_type: ResourceType) -> Mapping[str, Any]:
    return MappingProxyType({n: Any.pack(r) for n, r in resources.of_type(resource_type).items()})


class SnapshotCache:
    def __init__(self, options: TranslateOptions, *, translator: Translator = translate) -> None:
        self._options = options
        self._translator = translator
        self._snapshot: Snapshot | None = None
        self._views: dict[int, CacheView] = {}
        self._issued: dict[tuple[int, ResourceType, int], int] = {}
        self._generation = 0
        self._changed = asyncio.Event()

    @property
    def default_listener_port(self) -> int:
        return self._options.listener_port

    @property
    def registry_version(self) -> int | None:
        """Version of the last accepted registry snapshot (None before the first one)."""
        return None if self._snapshot is None else self._snapshot.version

    @property
    def generation(self) -> int:
        """Grows by one on every accepted change; streams wait for it to move."""
        return self._generation

    def set_snapshot(self, snapshot: Snapshot) -> bool:
        """Translate `snapshot` for every known listener port; False (last good kept) if inconsistent."""
        ports = sorted({self._options.listener_port, *self._views})
        translated: dict[int, Resources] = {}
        for port in ports:
            try:
                resources = self._translator(snapshot, self._options.with_listener_port(port))
            except (ValueError, TypeError):  # pydantic/betterproto refused a value: a translation bug
                _log.exception(
                    "registry version %d cannot be translated, keeping version %s",
                    snapshot.version,
                    self.registry_version,
                )
                return False
            problems = resources.consistency_problems()
            if problems:
                _log.error(
                    "registry version %d refused, keeping version %s: %s",
                    snapshot.version,
                    self.registry_version,
                    "; ".join(problems),
                )
                return False
            translated[port] = resources
        changed = False
        for port, resources in translated.items():
            previous = self._views.get(port)
            view = self._next_view(snapshot.version, port, resources, previous)
            changed = changed or view is not previous
            self._views[port] = view
        self._snapshot = snapshot
        if changed:
            self._notify()
            _log.info("registry version %d accepted", snapshot.version)
        return True

    def view(self, listener_port: int | None = None) -> CacheView | None:
        """What a node listening on `listener_port` is served; None before the first snapshot."""
        port = self._options.listener_port if listener_port is None else listener_port
        view = self._views.get(port)
        if view is not None or self._snapshot is None:
            return view
        resources = self._translator(self._snapshot, self._options.with_listener_port(port))
        problems = resources.consistency_problems()
        if problems:
            _log.error("no view for listener port %d: %s", port, "; ".join(problems))
            return None
        view = self._next_view(self._snapshot.version, port, resources, None)
        self._views[port] = view
        return view

    async def wait_for_change(self, seen_generation: int) -> int:
        """Return the current generation as soon as it differs from `seen_generation`."""
        while self._generation == seen_generation:
            await self._changed.wait()
        return self._generation

    def _notify(self) -> None:
        self._generation += 1
        woken, self._changed = self._changed, asyncio.Event()
        woken.set()

    def _next_view(
        self, registry_version: int, port: int, resources: Resources, previous: CacheView | None
    ) -> CacheView:
        types: dict[ResourceType, TypeSnapshot] = {}
        for resource_type in ResourceType:
            packed = _pack(resources, resource_type)
            before = previous.types[resource_type] if previous is not None else None
            if before is not None and before.same_content(packed):
                types[resource_type] = before
            else:
                version = self._new_version(registry_version, port, resource_type)
                types[resource_type] = TypeSnapshot(version=version, resources=packed)
        if previous is not None and all(types[t] is previous.types[t] for t in ResourceType):
            return previous
        return CacheView(registry_version=registry_version, listener_port=port, types=MappingProxyType(types))

    def _new_version(self, registry_version: int, port: int, resource_type: ResourceType) -> str:
        """`v<registry version>`, then `.2`, `.3`… for changes within one registry version (backend
        registrations) or should the registry ever reuse a version number. One counter per registry
        version, so heartbeats and churn cost no memory."""
        key = (port, resource_type, registry_version)
        count = self._issued.get(key, 0) + 1
        self._issued[key] = count
        return f"v{registry_version}" if count == 1 else f"v{registry_version}.{count}"

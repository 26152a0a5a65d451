"""Registry snapshot + live self-registrations → the snapshot xds translates. Pure: no I/O, no clock.

Registered backends are appended to their model's static backends, so translation does not know they
exist. A registration that no longer fits its model (the model was removed, or changed its scheme/base
path, or gained a static backend of the same name) is left out and reported, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from control_plane.model import Backend, BackendRegistration, Snapshot, registration_problems

__all__ = ["Merged", "with_registrations"]


@dataclass(frozen=True, slots=True)
class Merged:
    """The snapshot to translate, and each registration left out with the reason."""

    snapshot: Snapshot
    ignored: tuple[tuple[BackendRegistration, str], ...] = ()


def with_registrations(snapshot: Snapshot, registrations: Iterable[BackendRegistration]) -> Merged:
    """`snapshot` with every fitting registration's backend added to its model (same version)."""
    models = {m.name: m for m in snapshot.models}
    added: dict[str, list[Backend]] = {}
    ignored: list[tuple[BackendRegistration, str]] = []
    for registration in sorted(registrations, key=lambda r: r.key):
        model = models.get(registration.model)
        if model is None:
            ignored.append((registration, f"model {registration.model!r} is not in the registry"))
            continue
        problems = registration_problems(model, registration.backend)
        taken = {b.name for b in added.get(model.name, ())}
        if registration.backend.name in taken:
            problems.append(f"backend {registration.backend.name!r} is registered twice")
        if problems:
            ignored.append((registration, "; ".join(problems)))
            continue
        added.setdefault(model.name, []).append(registration.backend)
    if not added:
        return Merged(snapshot=snapshot, ignored=tuple(ignored))
    merged_models = tuple(
        m.model_copy(update={"backends": (*m.backends, *added[m.name])}) if m.name in added else m
        for m in snapshot.models
    )
    spec = snapshot.spec.model_copy(update={"models": merged_models})
    return Merged(snapshot=snapshot.model_copy(update={"spec": spec}), ignored=tuple(ignored))

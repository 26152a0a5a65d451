"""What `tollway apply -f` sends: any subset of the registry's sections.

A section present in the document (even empty) replaces that section of the registry; a section that
is absent is left alone. So `apply -f models.yaml` never touches tenants, and applying the same document
twice changes nothing. The cross-object rules are checked on the merged result, not on the document,
so a file may hold tenants whose plans live in another file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from control_plane.model import Model, Plan, Price, RegistrySpec, Tenant

__all__ = ["SECTIONS", "RegistryDocument", "sections_of"]

SECTIONS = ("models", "plans", "tenants", "prices")


class RegistryDocument(BaseModel):
    """Registry sections as an operator writes them; only the sections given are applied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: tuple[Model, ...] = ()
    plans: tuple[Plan, ...] = ()
    tenants: tuple[Tenant, ...] = ()
    prices: tuple[Price, ...] = ()


def sections_of(document: RegistryDocument | RegistrySpec) -> dict[str, object]:
    """The sections `document` sets explicitly (pydantic's `model_fields_set`), by name."""
    return {name: getattr(document, name) for name in SECTIONS if name in document.model_fields_set}

"""The transaction Bundle under construction: resources in order, deduplicated by id."""

from __future__ import annotations

from typing import Any

__all__ = ["BundleBuilder", "Resource", "reference_to"]

Resource = dict[str, Any]


def reference_to(resource: Resource, display: str | None = None) -> dict[str, str]:
    """A Reference to a resource of the Bundle, by its `urn:uuid:` fullUrl."""
    ref = {"reference": f"urn:uuid:{resource['id']}"}
    if display:
        ref["display"] = display
    return ref


class BundleBuilder:
    """Collects resources; a resource whose id is already present is merged, not duplicated.

    Shared things (the lab, a practitioner) are met several times in one document.
    The first occurrence wins; fields it lacks are filled from later ones, and
    `merge` reports whether a later occurrence disagreed on a field both had.
    """

    __slots__ = ("_resources",)

    def __init__(self) -> None:
        self._resources: dict[tuple[str, str], Resource] = {}

    def add(self, resource: Resource) -> tuple[dict[str, str], bool]:
        """Add or merge; returns the reference and whether a field conflicted."""
        key = (resource["resourceType"], resource["id"])
        existing = self._resources.get(key)
        if existing is None:
            self._resources[key] = resource
            return reference_to(resource), False
        if existing == resource:  # the usual repeat (the same biologist on every result)
            return reference_to(existing), False
        conflict = False
        for field, value in resource.items():
            if field not in existing:
                existing[field] = value
            elif existing[field] != value:
                conflict = True
        return reference_to(existing), conflict

    def get(self, resource_type: str, resource_id: str) -> Resource | None:
        return self._resources.get((resource_type, resource_id))

    def resources(self) -> list[Resource]:
        return list(self._resources.values())

    def transaction(self) -> Resource:
        """A FHIR transaction Bundle: PUT by stable id, so a second ingestion changes nothing."""
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{r['id']}",
                    "resource": r,
                    "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                }
                for r in self._resources.values()
            ],
        }

"""What mappers share during one conversion: ids, issues, the Bundle, references, scope.

`MappingContext` is explicit (never global) and lives for one document. `Scope`
is what a container passes down to what it contains: the section's chapter
codes, the specimens, performers and validators in force, a fallback time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bridge.cda.model import CdaDocument
from bridge.mapping.bundle import BundleBuilder, Resource
from bridge.mapping.ids import stable_id
from bridge.mapping.issues import Issues

__all__ = ["Correspondence", "MappingContext", "Scope"]

# (LOINC code of a result, UCUM unit of its second value) → the JDV correspondence Coding
Correspondence = Callable[[str, str], "dict[str, str] | None"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Context a container hands down to its members."""

    categories: tuple[dict[str, Any], ...] = ()
    specimens: tuple[dict[str, str], ...] = ()
    performers: tuple[dict[str, str], ...] = ()  # the executing lab (and its director)
    validators: tuple[dict[str, str], ...] = ()  # the biologists who validated
    validated: str | None = None  # validation time, as an instant: Observation.issued
    # effective[x] (converted) for members that give no time: the organizer's, else the
    # specimen's collection time
    effective: tuple[str, Any] | None = None
    organizer_timed: bool = False  # an organizer wrote a time: no specimen's stands in
    device: dict[str, str] | None = None

    def within(self, **changes: Any) -> Scope:
        return replace(self, **changes)


@dataclass(slots=True)
class MappingContext:
    document: CdaDocument
    document_key: str  # canonical form of the document id, for document-scoped ids
    correspondence: Correspondence
    displays: Mapping[tuple[str, str], str] | None = None  # (system, code) → display, offline
    labels: Callable[[str], str | None] | None = None  # LOINC code → JDV French label
    issues: Issues = field(default_factory=Issues)
    bundle: BundleBuilder = field(default_factory=BundleBuilder)
    subject: dict[str, str] | None = None
    encounter: dict[str, str] | None = None
    based_on: list[dict[str, str]] = field(default_factory=list)
    issued: str | None = None  # document effectiveTime as an instant
    specimens: list[dict[str, str]] = field(default_factory=list)  # every Specimen, for the report
    media: list[dict[str, Any]] = field(default_factory=list)  # DiagnosticReport.media
    notes: list[dict[str, str]] = field(default_factory=list)  # report-level comments
    presented_forms: list[dict[str, Any]] = field(default_factory=list)  # the PDF copy
    attachments: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)  # other documents
    depth: int = 0  # containers being mapped, one inside the other (see registry.map_entries)

    def local_id(self, resource_type: str, key: str) -> str:
        """Id of something that exists only inside this document (document and position)."""
        return stable_id(resource_type, self.document_key, key)

    def shared_id(self, resource_type: str, identifiers: list[dict[str, Any]], key: str) -> str:
        """Id of something every document of the patient names by its first identifier (a
        tube, an order); without identifier, it exists only inside this document."""
        if not identifiers:
            return self.local_id(resource_type, key)
        subject = self.subject["reference"] if self.subject else ""
        return stable_id(resource_type, subject, identifiers[0]["system"], identifiers[0]["value"])

    def add(self, resource: Resource, node: Any = None) -> dict[str, str]:
        """Put a resource in the Bundle; report when a shared identity came with other content."""
        ref, conflict = self.bundle.add(resource)
        if conflict and node is not None:
            self.issues.add(
                "duplicate-resource",
                node,
                f"{resource['resourceType']} with the same identifier as an earlier one but "
                "different details; the first occurrence is kept",
                severity="information",
            )
        return ref

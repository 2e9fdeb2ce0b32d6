"""A converted document as NDJSON-ready resources: `Type/id` references, store form.

`flatten` turns the transaction Bundle of one converted document into its resources
as a store keeps them, ready to be written one per line:

- every reference to a `fullUrl` of the Bundle (`urn:uuid:…`) becomes `Type/id`, by
  the same rewriting a transaction goes through on ingestion
  (`bridge.mapping.references`); contained references (`#x`) and URLs that are not
  fullUrls of the Bundle are left as they are;
- the DiagnosticReport points to its PDF copy by URL (`Binary/<id>`), as stored;
- each resource says its role for the replacement rules (`bridge.export.precedence`):
  part of the report (DiagnosticReport, its Observations), the document's own
  DocumentReference, or neither;
- the document carries what decides between versions written by several documents:
  its precedence (time, id, digest), its identifiers, and the ones it replaces.

Pure: no I/O, the same answer for the same Bundle, usable from a process pool or a
Spark executor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from bridge.export.precedence import Role, precedence
from bridge.mapping import Conversion
from bridge.mapping.references import aliases, rewrite_references
from bridge.store.documents import (
    document_time,
    presented_forms_by_url,
    replaced_identifiers,
    report_resources,
    source_documents,
)

__all__ = ["FlatDocument", "FlatResource", "flatten", "flatten_conversion", "identifier_key"]


@dataclass(frozen=True, slots=True)
class FlatResource:
    resource_type: str
    id: str
    role: Role  # "report", "document" or None (see bridge.export.precedence)
    resource: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FlatDocument:
    """One document's resources, and what ranks them against other documents' versions."""

    document_id: str
    precedence: str
    identifiers: tuple[str, ...]  # identifier_key of its own DocumentReference(s)
    replaces: tuple[str, ...]  # identifier_key of the documents it replaces
    resources: tuple[FlatResource, ...]


def identifier_key(identifier: dict[str, Any]) -> str:
    """A FHIR Identifier as one comparable string: its system (or none) and value.

    >>> identifier_key({"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3"})
    '["urn:ietf:rfc:3986","urn:oid:1.2.3"]'
    """
    return orjson.dumps([identifier.get("system"), identifier.get("value")]).decode()


def flatten(bundle: dict[str, Any], *, document_id: str, digest: str) -> FlatDocument:
    """The resources of a converted document's transaction Bundle, as a store keeps them.

    `document_id` is the document's id (`Conversion.document_id`), `digest` the SHA-256
    (hex) of its source bytes: both break ties between documents of the same time.
    """
    bundle = presented_forms_by_url(bundle)
    documents = source_documents(bundle)
    report = report_resources(bundle)
    own = {(d["resourceType"], d["id"]) for d in documents}
    references = aliases(bundle["entry"])
    resources = []
    for entry in bundle["entry"]:
        resource = rewrite_references(entry["resource"], references)
        key = (resource["resourceType"], resource["id"])
        role: Role = "report" if key in report else "document" if key in own else None
        resources.append(FlatResource(key[0], key[1], role, resource))
    return FlatDocument(
        document_id,
        precedence(document_time(documents), document_id, digest),
        tuple(identifier_key(d["masterIdentifier"]) for d in documents),
        tuple(identifier_key(i) for i in replaced_identifiers(documents)),
        tuple(resources),
    )


def flatten_conversion(conversion: Conversion, source: bytes) -> FlatDocument:
    """`flatten` of a conversion, given the bytes it was converted from."""
    return flatten(
        conversion.bundle,
        document_id=conversion.document_id,
        digest=hashlib.sha256(source).hexdigest(),
    )

"""What a converted document says about itself, read from its transaction Bundle.

Pure functions shared by ingestion (`bridge.store.ingestion`) and the bulk NDJSON
writer (`bridge.export`), so that a store and an NDJSON file keep the same version of
every resource:

- the document's own DocumentReference (the one with a `masterIdentifier`), its time
  (`DocumentReference.date`, in epoch microseconds: the newest document wins), and the
  documents it replaces (`relatesTo` code `replaces`, RPLC);
- the report resources a replacement takes out of the current results (the
  DiagnosticReport and its Observations, members included);
- the DiagnosticReport pointing to its PDF copy by URL (`Binary/<id>`) instead of
  carrying it inline a second time.
"""

from __future__ import annotations

from typing import Any

from bridge.store.indexing import date_range

__all__ = [
    "document_time",
    "presented_forms_by_url",
    "replaced_identifiers",
    "report_resources",
    "same_identifier",
    "source_documents",
    "superseded",
]


def source_documents(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The DocumentReferences of the converted document itself (those with a
    `masterIdentifier`), not of the documents attached to it."""
    return [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
        and "masterIdentifier" in e["resource"]
    ]


def document_time(documents: list[dict[str, Any]]) -> int | None:
    """When the document was written (its DocumentReference.date), in epoch µs."""
    found = date_range(documents[0]["date"]) if documents and documents[0].get("date") else None
    return found[0] if found else None


def replaced_identifiers(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ids of the documents these DocumentReferences say they replace (RPLC)."""
    return [
        relation["target"]["identifier"]
        for document in documents
        for relation in document.get("relatesTo", ())
        if relation.get("code") == "replaces" and relation.get("target", {}).get("identifier")
    ]


def same_identifier(a: Any, b: Any) -> bool:
    """Two FHIR Identifiers with the same system (both may lack one) and value."""
    return (
        isinstance(a, dict)
        and isinstance(b, dict)
        and a.get("system") == b.get("system")
        and a.get("value") == b.get("value")
    )


def superseded(resource: dict[str, Any]) -> dict[str, Any]:
    """A replaced document's DocumentReference, as the store keeps it."""
    return {**resource, "status": "superseded"}


def presented_forms_by_url(bundle: dict[str, Any]) -> dict[str, Any]:
    """The Bundle with each inline presentedForm replaced by the URL of its Binary."""
    binaries = {
        e["resource"].get("data"): e["resource"]["id"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Binary"
    }
    entries = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "DiagnosticReport" and resource.get("presentedForm"):
            forms = []
            for form in resource["presentedForm"]:
                binary_id = binaries.get(form.get("data"))
                if binary_id:
                    form = {
                        **{k: v for k, v in form.items() if k != "data"},
                        "url": f"Binary/{binary_id}",
                    }
                forms.append(form)
            entry = {**entry, "resource": {**resource, "presentedForm": forms}}
        entries.append(entry)
    return {**bundle, "entry": entries}


def report_resources(bundle: dict[str, Any]) -> set[tuple[str, str]]:
    """The Bundle's DiagnosticReports and their Observations (results, members)."""
    by_url = {e.get("fullUrl"): e["resource"] for e in bundle["entry"]}
    pending = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    ]
    found: set[tuple[str, str]] = set()
    while pending:
        resource = pending.pop()
        key = (resource["resourceType"], resource["id"])
        if key in found:
            continue
        found.add(key)
        for reference in [*resource.get("result", ()), *resource.get("hasMember", ())]:
            target = by_url.get(reference.get("reference"))
            if target is not None and target["resourceType"] == "Observation":
                pending.append(target)
    return found

"""The CapabilityStatement: exactly the resources, interactions, parameters and operations."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from bridge import __version__
from bridge.mapping import dumps
from bridge.results.definitions import CODESYSTEMS, CONVERT_UNIT, LASTN, SERIES, TRANSLATE
from bridge.store.indexing import SEARCH_PARAMETERS
from bridge.store.search import MAX_COUNT, MAX_PARAMETERS, MAX_VALUES
from bridge.terminology.conceptmap import CODESYSTEM_URL

__all__ = ["SUPPORTED_TYPES", "capability_json", "capability_statement"]

SUPPORTED_TYPES = tuple(sorted(SEARCH_PARAMETERS))
BULK_DATA = "http://hl7.org/fhir/uv/bulkdata"
_INTERACTIONS = ["read", "vread", "update", "delete", "history-instance", "create", "search-type"]
_OPERATIONS = [
    (
        "convert",
        "http://crbio-bridge.org/fhir/OperationDefinition/convert",
        "POST a CR-BIO CDA document: the FHIR transaction Bundle it converts to, nothing stored",
    ),
    (
        "ingest",
        "http://crbio-bridge.org/fhir/OperationDefinition/ingest",
        "POST a CR-BIO CDA document: converted and stored in one transaction",
    ),
    (
        "export",
        f"{BULK_DATA}/OperationDefinition/export",
        "FHIR Bulk Data export (v2) of every resource served here, as NDJSON "
        "(_outputFormat, _since, _type, _typeFilter)",
    ),
]


# Operations on a resource type: (name, OperationDefinition canonical, documentation)
_TYPE_OPERATIONS = {
    "Patient": [
        (
            "export",
            f"{BULK_DATA}/OperationDefinition/patient-export",
            "FHIR Bulk Data export (v2) of the patient compartments of FHIR R4, the Provenance "
            "of what they hold, and the Binary each DocumentReference secures",
        )
    ],
    "Observation": [
        (
            "series",
            SERIES,
            "A patient's results of one analysis in one unit, with the JDV comparability "
            "verdicts as an OperationOutcome entry",
        ),
        ("lastn", LASTN, "The most recent results of each code (max per code, default 1)"),
        (
            "convert-unit",
            CONVERT_UNIT,
            "One result in another unit (unit or unit-system), value and reference ranges",
        ),
    ],
    "ConceptMap": [
        (
            "translate",
            TRANSLATE,
            "The JDV correspondences, with the conversion factor and comparability level "
            "of each match as property parts; then the SMT",
        )
    ],
    "CodeSystem": [
        (
            "lookup",
            "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup",
            "French display and JDV properties of a LOINC code; then the SMT",
        )
    ],
}


_SUPPORTED_SYSTEM = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-supported-system"


def _codesystems() -> list[tuple[str, str]]:
    """(canonical URL, what it is) of the code systems this server publishes."""
    return [
        *CODESYSTEMS,
        (CODESYSTEM_URL, "JDV Circuit de la biologie: supplement of LOINC, one version per import"),
    ]


def _search_params(resource_type: str) -> list[dict[str, str]]:
    params = [{"name": "_id", "type": "token"}, {"name": "_lastUpdated", "type": "date"}]
    for p in SEARCH_PARAMETERS[resource_type]:
        entry = {"name": p.name, "type": p.kind}
        if p.description:
            entry["documentation"] = p.description
        params.append(entry)
    return params


def capability_statement(base: str, *, authenticated: bool) -> dict[str, Any]:
    resources = []
    for resource_type in SUPPORTED_TYPES:
        resource: dict[str, Any] = {
            "type": resource_type,
            "interaction": [{"code": code} for code in _INTERACTIONS],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "searchParam": _search_params(resource_type),
        }
        if resource_type == "DiagnosticReport":
            resource["searchInclude"] = [
                "DiagnosticReport:result",
                "DiagnosticReport:patient",
                "DiagnosticReport:subject",
            ]
        elif resource_type == "Observation":
            resource["searchInclude"] = [
                "Observation:patient",
                "Observation:subject",
                "Observation:has-member",
            ]
        if resource_type == "CodeSystem":
            resource["documentation"] = "Published code systems: " + "; ".join(
                f"{url} ({what})" for url, what in _codesystems()
            )
        if resource_type in _TYPE_OPERATIONS:
            resource["operation"] = [
                {"name": name, "definition": url, "documentation": doc}
                for name, url, doc in _TYPE_OPERATIONS[resource_type]
            ]
        resources.append(resource)
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": f"A search takes at most {MAX_PARAMETERS} parameters, each with at "
        f"most {MAX_VALUES} comma-separated values, and pages of at most {MAX_COUNT} "
        "resources; beyond, it is refused with a 400 OperationOutcome.",
        "resource": resources,
        "interaction": [{"code": "transaction"}, {"code": "batch"}],
        "operation": [
            {"name": name, "definition": url, "documentation": doc}
            for name, url, doc in _OPERATIONS
        ],
    }
    if authenticated:
        rest["security"] = {
            "description": "Bearer tokens: static API keys or OIDC JWTs; "
            "scopes read and write (writes need write)."
        }
    return {
        "resourceType": "CapabilityStatement",
        "extension": [{"url": _SUPPORTED_SYSTEM, "valueUri": url} for url, _ in _codesystems()],
        "status": "active",
        "date": "2026-11-22",
        "kind": "instance",
        "instantiates": [f"{BULK_DATA}/CapabilityStatement/bulk-data"],
        "software": {"name": "crbio-bridge", "version": __version__},
        "implementation": {"description": "CR-BIO to FHIR bridge", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [rest],
    }


@lru_cache(maxsize=32)  # bounded: the base comes from the request's Host headers
def capability_json(base: str, *, authenticated: bool) -> bytes:
    """The CapabilityStatement serialised, built once per (base, authenticated)."""
    return dumps(capability_statement(base, authenticated=authenticated))

"""The CapabilityStatement: exactly the resources, interactions, parameters and operations."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from bridge import __version__
from bridge.mapping import dumps
from bridge.store.indexing import SEARCH_PARAMETERS

__all__ = ["SUPPORTED_TYPES", "capability_json", "capability_statement"]

SUPPORTED_TYPES = tuple(sorted(SEARCH_PARAMETERS))
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
        if resource_type == "ConceptMap":
            resource["operation"] = [
                {
                    "name": "translate",
                    "definition": "http://hl7.org/fhir/OperationDefinition/ConceptMap-translate",
                }
            ]
        resources.append(resource)
    resources.append(
        {
            "type": "CodeSystem",
            "interaction": [],
            "operation": [
                {
                    "name": "lookup",
                    "definition": "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup",
                }
            ],
        }
    )
    rest: dict[str, Any] = {
        "mode": "server",
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
        "status": "active",
        "date": "2026-11-22",
        "kind": "instance",
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

"""$translate and $lookup: FHIR Parameters in and out, with R4 and R5 parameter names.

R4 (ConceptMap/$translate): url, conceptMapVersion, system + code (+ version), coding,
codeableConcept, source, target, targetsystem, reverse → result, message, match
(equivalence, concept, product, source).
R5 names are accepted too (sourceCode, sourceCoding, sourceCodeableConcept,
targetCode, targetCoding, targetSystem); a request that uses them gets an R5 answer:
match (relationship, concept, property, originMap), where `property` carries the JDV
conversion factor and comparability level. A target code (R5) is a reverse lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bridge.errors import TerminologyError
from bridge.terminology.conceptmap import (
    PROPERTY_BASE,
    JdvConcept,
    Match,
    concept_properties,
    value_x,
)

__all__ = [
    "LookupRequest",
    "TranslateRequest",
    "lookup_parameters",
    "matches_from_parameters",
    "parse_lookup",
    "parse_translate",
    "translate_parameters",
]

_R5_NAMES = {
    "sourceCode",
    "sourceCoding",
    "sourceCodeableConcept",
    "targetCode",
    "targetCoding",
    "targetCodeableConcept",
    "targetSystem",
    "sourceScope",
    "targetScope",
}
Param = tuple[str, Any]  # (name, value): a str from a query string, or a FHIR value


class InvalidRequest(TerminologyError, ValueError):
    """The operation's parameters are not usable (no code, two codes for one…)."""

    code = "invalid-request"


@dataclass(frozen=True, slots=True)
class TranslateRequest:
    codings: tuple[tuple[str | None, str], ...]  # (system, code) to translate
    reverse: bool = False
    url: str | None = None
    conceptmap_version: str | None = None
    target_system: str | None = None
    r5: bool = False
    params: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # to forward


@dataclass(frozen=True, slots=True)
class LookupRequest:
    system: str
    code: str
    version: str | None = None
    properties: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = field(default=(), compare=False)


def from_parameters(resource: dict[str, Any]) -> list[Param]:
    """A Parameters resource as (name, value) pairs; the value is the value[x] of each."""
    if resource.get("resourceType") != "Parameters":
        raise InvalidRequest("the body must be a FHIR Parameters resource")
    parameters = resource.get("parameter", [])
    if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
        raise InvalidRequest("Parameters.parameter must be an array of objects")
    return [(str(parameter.get("name", "")), value_x(parameter)) for parameter in parameters]


def _coding_pairs(value: Any) -> list[tuple[str | None, str]]:
    """(system, code) of a Coding, of each Coding of a CodeableConcept, or of
    "system|code" as a query string writes a coding. A CodeableConcept holds Codings,
    never CodeableConcepts: nothing here is read by recursion."""
    if isinstance(value, dict) and "coding" in value:  # CodeableConcept
        codings = value["coding"]
        if not isinstance(codings, list):
            raise InvalidRequest("CodeableConcept.coding must be an array of Codings")
        return [pair for coding in codings for pair in _coding_pair(coding)]
    return _coding_pair(value)


def _coding_pair(value: Any) -> list[tuple[str | None, str]]:
    if isinstance(value, dict) and value.get("code"):
        system = value.get("system")
        return [(str(system) if system else None, str(value["code"]))]
    if isinstance(value, str) and "|" in value:  # a Coding written system|code in a URL
        system, _, code = value.rpartition("|")
        return [(system or None, code)] if code else []
    return []


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def _checked(pairs: list[Param]) -> list[Param]:
    """The parameters, refused when a text value is empty or holds a control character
    (a NUL byte in a query string): such a value is never a code to look up, nor a
    question to relay to the SMT."""
    for name, value in pairs:
        if isinstance(value, str) and (not value or _CONTROL_CHARACTERS.search(value)):
            raise InvalidRequest(f"parameter {name!r} is empty or holds a control character")
    return pairs


# Parameters the R4/R5 OperationDefinitions give max 1: a repeat is refused rather than
# one value silently kept (or two codes translated as one question)
_ONCE = frozenset(
    {
        "url", "conceptMap", "conceptMapVersion", "code", "system", "version", "source",
        "coding", "codeableConcept", "target", "targetsystem", "targetSystem", "reverse",
        "sourceCode", "sourceCoding", "sourceCodeableConcept", "targetCode", "targetCoding",
        "targetCodeableConcept", "date", "displayLanguage",
    }
)  # fmt: skip


def _once(pairs: list[Param], operation: str) -> None:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in _ONCE and name in seen:
            raise InvalidRequest(f"${operation}: {name} is given more than once (max 1)")
        seen.add(name)


def _truthy(value: Any) -> bool:
    """A boolean parameter: true or false, nothing else."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidRequest(f"a boolean parameter is true or false, not {str(value)[:40]!r}")


def parse_translate(pairs: list[Param]) -> TranslateRequest:
    pairs = _checked(pairs)
    _once(pairs, "translate")
    names = {name for name, _ in pairs}
    r5 = bool(names & _R5_NAMES)
    single = {name: value for name, value in pairs}
    system = single.get("system")
    codings: list[tuple[str | None, str]] = []
    reverse = _truthy(single.get("reverse"))
    for name, value in pairs:
        if name in ("code", "sourceCode"):
            codings.append((system, str(value)))
        elif name in ("coding", "codeableConcept", "sourceCoding", "sourceCodeableConcept"):
            codings.extend(_coding_pairs(value))
        elif name in ("targetCode", "targetCoding", "targetCodeableConcept"):
            reverse = True  # R5: given the target, find the sources
            codings.extend([(system, str(value))] if name == "targetCode" else _coding_pairs(value))
    if not codings:
        raise InvalidRequest("$translate needs a code (system + code, coding or codeableConcept)")
    if any(system is None for system, _ in codings):
        raise InvalidRequest("a code without its system cannot be translated")
    target_system = single.get("targetsystem") or single.get("targetSystem")
    return TranslateRequest(
        codings=tuple(codings),
        reverse=reverse,
        url=single.get("url"),
        conceptmap_version=single.get("conceptMapVersion"),
        target_system=target_system,
        r5=r5,
        params=tuple((n, _as_query(v)) for n, v in pairs if _as_query(v) is not None),
    )


def _as_query(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) and value.get("code"):
        return f"{value.get('system', '')}|{value['code']}"
    return None


def translate_parameters(
    matches: list[Match], *, r5: bool, message: str | None = None
) -> dict[str, Any]:
    """The $translate answer: result, message, and every match (none is ever dropped)."""
    parameters: list[dict[str, Any]] = [{"name": "result", "valueBoolean": bool(matches)}]
    if message:
        parameters.append({"name": "message", "valueString": message})
    for match in matches:
        concept = {"system": match.system, "code": match.code}
        if match.display:
            concept["display"] = match.display
        origin = f"{match.source_url}|{match.version}" if match.version else match.source_url
        properties = [
            {
                "name": "property",
                "part": [
                    {"name": "uri", "valueUri": PROPERTY_BASE + name},
                    {"name": "value", **_value(value)},
                ],
            }
            for name, value in match.properties
        ]
        if r5:
            parts = [
                {"name": "relationship", "valueCode": match.relationship},
                {"name": "concept", "valueCoding": concept},
                *properties,
                {"name": "originMap", "valueCanonical": origin},
            ]
        else:
            parts = [
                {"name": "equivalence", "valueCode": match.equivalence},
                {"name": "concept", "valueCoding": concept},
                *properties,
                {"name": "source", "valueUri": origin},
            ]
        parameters.append({"name": "match", "part": parts})
    return {"resourceType": "Parameters", "parameter": parameters}


def matches_from_parameters(parameters: dict[str, Any]) -> list[Match]:
    """The matches of a $translate answer (R4 or R5 style), e.g. one relayed from the SMT."""
    from bridge.terminology.conceptmap import _relationship

    found = []
    for parameter in parameters.get("parameter", ()):
        if parameter.get("name") != "match":
            continue
        parts: dict[str, Any] = {}
        properties: list[tuple[str, Any]] = []
        for part in parameter.get("part", ()):
            if part.get("name") == "property":
                sub = {p.get("name"): p for p in part.get("part", ())}
                uri = sub.get("uri", {}).get("valueUri", "")
                properties.append((uri.removeprefix(PROPERTY_BASE), value_x(sub.get("value", {}))))
            else:
                parts[part.get("name")] = value_x(part)
        concept = parts.get("concept") or {}
        equivalence = parts.get("equivalence") or "relatedto"
        origin = str(parts.get("source") or parts.get("originMap") or "")
        url, _, version = origin.partition("|")
        found.append(
            Match(
                code=concept.get("code", ""),
                display=concept.get("display"),
                equivalence=equivalence,
                relationship=parts.get("relationship") or _relationship(equivalence),
                properties=tuple(properties),
                source_url=url,
                version=version or None,
                system=concept.get("system", ""),
            )
        )
    return found


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, Decimal | int | float):
        return {"valueDecimal": value}
    return {"valueString": str(value)} if " " in str(value) else {"valueCode": str(value)}


def parse_lookup(pairs: list[Param]) -> LookupRequest:
    _once(_checked(pairs), "lookup")
    single = {name: value for name, value in pairs}
    system, code = single.get("system"), single.get("code")
    for coding_system, coding_code in _coding_pair(single.get("coding")):
        system, code = coding_system or system, coding_code
    if not system or not code:
        raise InvalidRequest("$lookup needs system and code (or a coding)")
    return LookupRequest(
        system=str(system),
        code=str(code),
        version=single.get("version"),
        properties=tuple(str(v) for n, v in pairs if n == "property"),
        params=tuple((n, _as_query(v)) for n, v in pairs if _as_query(v) is not None),
    )


def lookup_parameters(
    concept: JdvConcept,
    *,
    system_name: str = "LOINC",
    version: str | None = None,
    properties: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The $lookup answer from the JDV: French display, print label, JDV properties."""
    parameters: list[dict[str, Any]] = [{"name": "name", "valueString": system_name}]
    if version:
        parameters.append({"name": "version", "valueString": version})
    parameters.append({"name": "display", "valueString": concept.display})
    parameters.append(
        {
            "name": "designation",
            "part": [
                {"name": "language", "valueCode": "fr-FR"},
                {"name": "value", "valueString": concept.display},
            ],
        }
    )
    if concept.print_label:
        parameters.append(
            {
                "name": "designation",
                "part": [
                    {"name": "language", "valueCode": "fr-FR"},
                    {
                        "name": "use",
                        "valueCoding": {
                            "system": "https://crbio-bridge.org/fhir/designation-use",
                            "code": "print-label",
                            "display": "Libellé d'édition",
                        },
                    },
                    {"name": "value", "valueString": concept.print_label},
                ],
            }
        )
    known = concept_properties(concept) + [
        ("waiting-code", "valueCode", w) for w in concept.waiting_codes
    ]
    for name, key, value in known:
        if value is None or (properties and name not in properties):
            continue
        parameters.append(
            {
                "name": "property",
                "part": [{"name": "code", "valueCode": name}, {"name": "value", key: value}],
            }
        )
    return {"resourceType": "Parameters", "parameter": parameters}

"""What the result operations publish: their OperationDefinitions and the CodeSystems
their answers use (comparability verdicts, the meta.tag of converted results).

Each is a FHIR resource stored like any other at start-up (`publish`), so a client
reads it at `/fhir/OperationDefinition/<id>` or `/fhir/CodeSystem/<id>`, finds it by
`url`, and the CapabilityStatement names it by its canonical URL.
"""

from __future__ import annotations

from typing import Any

from bridge.store import Store
from bridge.terminology.comparison import VERDICT_SYSTEM, VERDICTS
from bridge.terminology.conversion import VIEW_SYSTEM, VIEW_TAGS

__all__ = [
    "CODESYSTEMS",
    "CONVERT_UNIT",
    "DEFINITIONS",
    "LASTN",
    "SERIES",
    "TRANSLATE",
    "publish",
]

BASE = "https://crbio-bridge.org/fhir"
SERIES = f"{BASE}/OperationDefinition/Observation-series"
CONVERT_UNIT = f"{BASE}/OperationDefinition/Observation-convert-unit"
TRANSLATE = f"{BASE}/OperationDefinition/ConceptMap-translate"
LASTN = "http://hl7.org/fhir/OperationDefinition/Observation-lastn"  # the standard one
_DATE = "2026-11-30"


def _param(
    name: str,
    use: str,
    kind: str | None,
    documentation: str,
    *,
    low: int = 0,
    high: str = "1",
    search: str | None = None,
    parts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "use": use, "min": low, "max": high}
    param["documentation"] = documentation
    if kind:
        param["type"] = kind
    if search:
        param["searchType"] = search
    if parts:
        param["part"] = parts
    return param


def _operation(
    url: str,
    code: str,
    title: str,
    description: str,
    parameters: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "resourceType": "OperationDefinition",
        "id": url.rsplit("/", 1)[1],
        "url": url,
        "version": "1",
        "name": title.replace(" ", "").replace("$", "").replace("-", ""),
        "title": title,
        "status": "active",
        "kind": "operation",
        "date": _DATE,
        "publisher": "crbio-bridge",
        "description": description,
        "affectsState": False,
        "code": code,
        **extra,
        "parameter": parameters,
    }


_UNIT = (
    "A UCUM unit (French spellings such as mUI/L or G/L accepted); every quantitative "
    "result is shown in it"
)
_UNIT_SYSTEM = (
    "SI (substance concentrations, per litre) or conventional (mass concentrations), when "
    "no unit is given"
)

SERIES_DEFINITION = _operation(
    SERIES,
    "series",
    "Result series",
    "A patient's current results of one analysis, oldest first, all in one unit, with the "
    "comparability verdicts of the JDV Circuit de la biologie (ANS Ségur scenarios "
    "LGC.MDV.09.0x). Joined: the results coded with an asked code or a code the JDV "
    "links to it (mass ⇔ moles), status final, amended, corrected or preliminary, of "
    "reports not replaced. The unit is the one asked, else the unit of the unit system "
    "asked, else the JDV UCUM unit of the asked code, else the unit of the most recent "
    "result. A result in another unit is converted, value and reference ranges (the JDV "
    "factor between mass and moles, UCUM within a dimension), takes the target code the "
    "JDV gives, keeps the original in the extension mesures-original-data and carries "
    f"meta.tag {VIEW_SYSTEM}|converted; when the report also gives the result in the "
    "series unit, the laboratory's own value is shown, never a conversion. The last "
    "entry (search.mode outcome) is an OperationOutcome: one issue per pair of "
    "consecutive results and one for the whole series, severity information "
    "(comparable) or warning (not comparable on the code alone), code business-rule, "
    f"details.coding from {VERDICT_SYSTEM}, details.text the alert in French and "
    "English, expression the entries concerned (Bundle.entry[i]). Nothing stored changes.",
    [
        _param(
            "patient",
            "in",
            "string",
            "The patient (id or Patient/id)",
            low=1,
            search="reference",
        ),
        _param(
            "code",
            "in",
            "string",
            "system|code of the analysis; several codes (comma-separated or repeated) make "
            "one series, with the codes the JDV links to them, and consecutive results of "
            "different analyses get a warning",
            low=1,
            high="*",
            search="token",
        ),
        _param("unit", "in", "string", _UNIT),
        _param("unit-system", "in", "code", _UNIT_SYSTEM),
        _param(
            "date",
            "in",
            "string",
            "Effective time, with the prefixes of search (ge2025-01-01); repeatable",
            high="*",
            search="date",
        ),
        _param(
            "return",
            "out",
            "Bundle",
            "searchset: the results (search.mode match), then the OperationOutcome of the "
            "verdicts (search.mode outcome)",
            low=1,
        ),
    ],
    resource=["Observation"],
    system=False,
    type=True,
    instance=False,
)

CONVERT_UNIT_DEFINITION = _operation(
    CONVERT_UNIT,
    "convert-unit",
    "Convert a result to another unit",
    "The Observation with its value and every reference-range bound in the asked unit (the "
    "JDV factor between mass and moles, with the JDV's target code; UCUM within a "
    "dimension), the original kept in the extension mesures-original-data and "
    f"meta.tag {VIEW_SYSTEM}|converted. When the same report holds the result in that "
    "unit, that Observation is answered, unconverted. Refused with 422 and an "
    "OperationOutcome saying why: unknown unit, another dimension, no JDV factor. "
    "Nothing stored changes.",
    [
        _param("unit", "in", "string", _UNIT),
        _param("unit-system", "in", "code", _UNIT_SYSTEM),
        _param("return", "out", "Observation", "The result in the asked unit", low=1),
    ],
    resource=["Observation"],
    system=False,
    type=False,
    instance=True,
)

TRANSLATE_DEFINITION = _operation(
    TRANSLATE,
    "translate",
    "Concept Translation with JDV properties",
    "ConceptMap/$translate as in FHIR R4 (R5 parameter names accepted too), answered from "
    "the JDV Circuit de la biologie, then the SMT. Each match also carries, as R5-style "
    "`property` parts (uri https://crbio-bridge.org/fhir/jdv-property/<code>, value[x]), "
    "the conversion factor of that direction (factor), the comparability level "
    "(comparability: 1, 2 or 9), the UCUM units (source-unit, target-unit), whether the "
    "factor is official, and the row's provenance.",
    [
        _param("url", "in", "uri", "The ConceptMap (default: the JDV, then the SMT)"),
        _param("conceptMapVersion", "in", "string", "Its version (default: the current one)"),
        _param("code", "in", "code", "The code to translate (with system)"),
        _param("system", "in", "uri", "The system of the code"),
        _param("coding", "in", "Coding", "The code as a Coding"),
        _param("codeableConcept", "in", "CodeableConcept", "The code as a CodeableConcept"),
        _param("targetsystem", "in", "uri", "Only matches in this system"),
        _param("reverse", "in", "boolean", "The codes that map to this one"),
        _param("result", "out", "boolean", "Whether a match was found", low=1),
        _param("message", "out", "string", "Why there is no match"),
        _param(
            "match",
            "out",
            None,
            "One per correspondence",
            high="*",
            parts=[
                _param("equivalence", "out", "code", "relatedto for the JDV"),
                _param("concept", "out", "Coding", "The other code"),
                _param(
                    "property",
                    "out",
                    None,
                    "A JDV property of the pair (factor, comparability, units, official, "
                    "provenance)",
                    high="*",
                    parts=[
                        _param("uri", "out", "uri", "The property", low=1),
                        _param("value", "out", "string", "Its value (value[x])", low=1),
                    ],
                ),
                _param("source", "out", "uri", "The ConceptMap|version that answered"),
            ],
        ),
    ],
    base="http://hl7.org/fhir/OperationDefinition/ConceptMap-translate",
    resource=["ConceptMap"],
    system=False,
    type=True,
    instance=False,
)


def _codesystem(url: str, name: str, title: str, description: str, concepts: Any) -> Any:
    return {
        "resourceType": "CodeSystem",
        "id": url.rsplit("/", 1)[1],
        "url": url,
        "version": "1",
        "name": name,
        "title": title,
        "status": "active",
        "date": _DATE,
        "publisher": "crbio-bridge",
        "description": description,
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": concepts,
    }


VERDICT_CODESYSTEM = _codesystem(
    VERDICT_SYSTEM,
    "ComparabilityVerdict",
    "Comparabilité des résultats de biologie / Comparability of lab results",
    "The verdicts of $series on two results of a patient (or a whole series), after the "
    "JDV Circuit de la biologie and the ANS Ségur scenarios: comparable, comparable after "
    "conversion, or why not (JDV level 2 or 9, waiting code, LOINC outside the Circuit, "
    "local code, no code system, different analyses, a unit that cannot be converted).",
    [
        {
            "code": code,
            "display": display,
            "definition": english,
            "designation": [{"language": "fr-FR", "value": french}],
        }
        for code, (display, french, english) in VERDICTS.items()
    ],
)

VIEW_CODESYSTEM = _codesystem(
    VIEW_SYSTEM,
    "ResultView",
    "Results shown in another unit",
    "meta.tag codes of a result shown in another unit than the stored one.",
    [
        {"code": code, "display": display, "definition": definition}
        for code, (display, definition) in VIEW_TAGS.items()
    ],
)

# (canonical URL, what it is) of the CodeSystems above, for the CapabilityStatement
CODESYSTEMS = (
    (VERDICT_SYSTEM, "comparability verdicts of $series, details.coding of its issues"),
    (VIEW_SYSTEM, "meta.tag of results shown in another unit (converted, second-unit)"),
)

DEFINITIONS: tuple[dict[str, Any], ...] = (
    SERIES_DEFINITION,
    CONVERT_UNIT_DEFINITION,
    TRANSLATE_DEFINITION,
    VERDICT_CODESYSTEM,
    VIEW_CODESYSTEM,
)


def publish(store: Store) -> None:
    """Store the definitions (a new version only when one changed)."""
    for resource in DEFINITIONS:
        store.publish_resource(resource)

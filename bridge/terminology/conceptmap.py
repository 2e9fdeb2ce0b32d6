"""The JDV as FHIR: a ConceptMap of correspondences and a CodeSystem supplement of properties.

ConceptMap (source and target http://loinc.org): one element per analysis that has a
correspondence (AA), one target each, carrying R5 `target.property` through the R4
cross-version extension: the conversion factor of that direction (AB), the
comparability level (V), the UCUM units of source and target (Y), whether the factor
is official, and the row's provenance.

CodeSystem supplement of LOINC: every analysis of the JDV with its French labels and
properties (comparability, units, flags), for `$lookup` and for comparing results of
analyses that have no correspondence (TSH, haemoglobin).

`JdvIndex` reads both back into dictionaries: `translate()` is a dictionary lookup
returning precomputed matches, so a server answers $translate without touching a
database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bridge.terminology.jdv import JdvRow

__all__ = [
    "CODESYSTEM_URL",
    "CONCEPTMAP_URL",
    "LOINC",
    "PROPERTY_EXTENSION",
    "TARGET_PROPERTY_EXTENSION",
    "JdvConcept",
    "JdvIndex",
    "Match",
    "build_codesystem",
    "build_conceptmap",
    "in_unit",
    "ucum_code",
    "value_x",
]

LOINC = "http://loinc.org"
CONCEPTMAP_URL = "https://crbio-bridge.org/fhir/ConceptMap/jdv-circuit-biologie"
CODESYSTEM_URL = "https://crbio-bridge.org/fhir/CodeSystem/jdv-circuit-biologie"
PROPERTY_EXTENSION = "http://hl7.org/fhir/5.0/StructureDefinition/extension-ConceptMap.property"
TARGET_PROPERTY_EXTENSION = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ConceptMap.group.element.target.property"
)
PROPERTY_BASE = "https://crbio-bridge.org/fhir/jdv-property/"

# (code, FHIR type, description) of each target property, as R5 ConceptMap.property
TARGET_PROPERTIES = (
    (
        "factor",
        "decimal",
        "Facteur de conversion des unités (colonne AB): value in the source "
        "unit × factor = value in the target unit",
    ),
    (
        "comparability",
        "code",
        "Niveau minimum de comparabilité (colonne V) of the source "
        "analysis: 1 comparable, 2 not comparable, 9 not evaluated",
    ),
    ("source-unit", "code", "UCUM unit of the source analysis (colonne Y)"),
    ("target-unit", "code", "UCUM unit of the target analysis (colonne Y)"),
    ("official", "boolean", "false when the factor is not the JDV's (derived from a molar mass)"),
    ("provenance", "string", "Where the row comes from"),
)
_VALUE_KEY = {
    "decimal": "valueDecimal",
    "code": "valueCode",
    "boolean": "valueBoolean",
    "string": "valueString",
}
# The JDV properties of an analysis that the CodeSystem supplement carries and $lookup
# gives: (property code, FHIR type, attribute of JdvRow and JdvConcept). The supplement
# also carries "correspondence", "waiting-code" (repeated) and "provenance".
CONCEPT_PROPERTIES = (
    ("comparability", "code", "comparability"),
    ("ucum-unit", "code", "ucum_unit"),
    ("recommended-unit", "string", "recommended_unit"),
    ("restricted", "boolean", "restricted"),
    ("systematic", "boolean", "systematic"),
)


def concept_properties(holder: JdvRow | JdvConcept) -> list[tuple[str, str, Any]]:
    """(code, value[x] key, value) of each CONCEPT_PROPERTIES entry, unset ones included."""
    return [
        (code, _VALUE_KEY[kind], getattr(holder, attr)) for code, kind, attr in CONCEPT_PROPERTIES
    ]


@dataclass(frozen=True, slots=True)
class Match:
    """One answer of $translate: the other code and what the JDV says of the pair."""

    code: str
    display: str | None
    equivalence: str  # R4 ConceptMapEquivalence
    relationship: str  # R5 ConceptMapRelationship
    properties: tuple[tuple[str, Any], ...]  # (code, value) in TARGET_PROPERTIES order
    source_url: str
    version: str | None
    system: str = LOINC

    def property(self, code: str) -> Any:
        return next((value for name, value in self.properties if name == code), None)

    def coding(self) -> dict[str, str]:
        """The matched code as a FHIR Coding (with its display when known)."""
        coding = {"system": self.system, "code": self.code}
        if self.display:
            coding["display"] = self.display
        return coding


def in_unit(matches: Iterable[Match], unit: str) -> Match | None:
    """The match whose target analysis is expressed in `unit` (UCUM, the `target-unit`
    property): a LOINC code implies its unit family, so no other match will do."""
    return next((m for m in matches if m.property("target-unit") == unit), None)


@dataclass(frozen=True, slots=True)
class JdvConcept:
    """What the JDV says of one analysis (CodeSystem supplement concept)."""

    code: str
    display: str
    print_label: str | None
    comparability: str | None
    ucum_unit: str | None
    recommended_unit: str | None
    restricted: bool | None
    systematic: bool | None
    waiting_codes: tuple[str, ...]
    source: str


def _property_value(kind: str, value: Any) -> dict[str, Any]:
    return {"url": "value", _VALUE_KEY[kind]: value}


def _target_properties(row: JdvRow, target: JdvRow | None) -> list[tuple[str, Any]]:
    values: list[tuple[str, Any]] = []
    for code, _, _ in TARGET_PROPERTIES:
        value = {
            "factor": row.factor,
            "comparability": row.comparability,
            "source-unit": row.ucum_unit,
            "target-unit": target.ucum_unit if target else None,
            "official": row.factor_official if row.factor is not None else None,
            "provenance": row.source or None,
        }[code]
        if value is not None:
            values.append((code, value))
    return values


def build_conceptmap(
    rows: dict[str, JdvRow], version: str, *, title: str | None = None
) -> dict[str, Any]:
    """The ConceptMap of one JDV version from merged rows (one per LOINC code)."""
    kinds = {code: kind for code, kind, _ in TARGET_PROPERTIES}
    elements = []
    for code in sorted(rows, key=_loinc_key):
        row = rows[code]
        if not row.correspondence:
            continue
        target = rows.get(row.correspondence)
        extensions = [
            {
                "url": TARGET_PROPERTY_EXTENSION,
                "extension": [
                    {"url": "code", "valueCode": name},
                    _property_value(kinds[name], value),
                ],
            }
            for name, value in _target_properties(row, target)
        ]
        mapped: dict[str, Any] = {"extension": extensions, "code": row.correspondence}
        if target is not None:
            mapped["display"] = target.label
        mapped["equivalence"] = "relatedto"
        mapped["comment"] = (
            "Même analyse dans l'autre famille d'unités (masse/volume ↔ moles/volume); "
            "convertir avec le facteur, comparer selon le niveau de comparabilité."
        )
        elements.append({"code": code, "display": row.label, "target": [mapped]})
    return {
        "resourceType": "ConceptMap",
        "id": f"jdv-circuit-biologie-{_id_safe(version)}",
        "extension": [
            {
                "url": PROPERTY_EXTENSION,
                "extension": [
                    {"url": "code", "valueCode": code},
                    {"url": "uri", "valueUri": PROPERTY_BASE + code},
                    {"url": "description", "valueString": description},
                    {"url": "type", "valueCode": kind},
                ],
            }
            for code, kind, description in TARGET_PROPERTIES
        ],
        "url": CONCEPTMAP_URL,
        "version": version,
        "name": "JDVCircuitBiologieCorrespondances",
        "title": title or "JDV Circuit de la biologie : correspondances masse ↔ moles",
        "status": "active",
        "publisher": "crbio-bridge, from the ANS JDV Circuit de la biologie",
        "sourceUri": LOINC,
        "targetUri": LOINC,
        "group": [{"source": LOINC, "target": LOINC, "element": elements}],
    }


def build_codesystem(rows: dict[str, JdvRow], version: str) -> dict[str, Any]:
    """The CodeSystem supplement of LOINC holding each analysis's JDV properties."""
    concepts = []
    for code in sorted(rows, key=_loinc_key):
        row = rows[code]
        concept: dict[str, Any] = {"code": code, "display": row.label}
        if row.print_label:
            concept["designation"] = [
                {
                    "language": "fr-FR",
                    "use": {
                        "system": "http://terminology.hl7.org/CodeSystem/designation-usage",
                        "code": "display",
                    },
                    "value": row.print_label,
                }
            ]
        properties = [
            *concept_properties(row),
            ("correspondence", "valueCode", row.correspondence),
            ("provenance", "valueString", row.source or None),
        ]
        properties += [("waiting-code", "valueCode", w) for w in row.waiting_codes]
        concept["property"] = [
            {"code": name, key: value} for name, key, value in properties if value is not None
        ]
        concepts.append(concept)
    return {
        "resourceType": "CodeSystem",
        "id": f"jdv-circuit-biologie-{_id_safe(version)}",
        "url": CODESYSTEM_URL,
        "version": version,
        "name": "JDVCircuitBiologieProprietes",
        "title": "JDV Circuit de la biologie : propriétés des analyses",
        "status": "active",
        "content": "supplement",
        "supplements": LOINC,
        "property": [
            *({"code": code, "type": kind} for code, kind, _ in CONCEPT_PROPERTIES),
            {"code": "correspondence", "type": "code"},
            {"code": "waiting-code", "type": "code"},
            {"code": "provenance", "type": "string"},
        ],
        "concept": concepts,
    }


def _loinc_key(code: str) -> tuple[int, str]:
    base = code.partition("-")[0]
    return (int(base) if base.isdigit() else 0, code)


def _id_safe(version: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in version)[:50]


class JdvIndex:
    """Dictionaries over one JDV version: forward and reverse correspondences, concepts."""

    def __init__(
        self, conceptmap: dict[str, Any], codesystem: dict[str, Any] | None = None
    ) -> None:
        self.url = conceptmap.get("url", CONCEPTMAP_URL)
        self.version = conceptmap.get("version")
        forward: dict[tuple[str, str], list[Match]] = {}
        reverse: dict[tuple[str, str], list[Match]] = {}
        for group in conceptmap.get("group", ()):
            source_system, target_system = group.get("source", LOINC), group.get("target", LOINC)
            for element in group.get("element", ()):
                for target in element.get("target", ()):
                    properties = tuple(_read_properties(target))
                    forward.setdefault((source_system, element["code"]), []).append(
                        Match(
                            target["code"],
                            target.get("display"),
                            target.get("equivalence", "relatedto"),
                            _relationship(target.get("equivalence", "relatedto")),
                            properties,
                            self.url,
                            self.version,
                            target_system,
                        )
                    )
                    reverse.setdefault((target_system, target["code"]), []).append(
                        Match(
                            element["code"],
                            element.get("display"),
                            target.get("equivalence", "relatedto"),
                            _relationship(target.get("equivalence", "relatedto")),
                            properties,
                            self.url,
                            self.version,
                            source_system,
                        )
                    )
        self._forward: dict[tuple[str, str], tuple[Match, ...]] = {
            k: tuple(v) for k, v in forward.items()
        }
        self._reverse: dict[tuple[str, str], tuple[Match, ...]] = {
            k: tuple(v) for k, v in reverse.items()
        }
        self.concepts: dict[str, JdvConcept] = {}
        if codesystem is not None:
            self.concepts = {c["code"]: _concept(c) for c in codesystem.get("concept", ())}

    def translate(
        self, system: str, code: str, *, reverse: bool = False, target_system: str | None = None
    ) -> tuple[Match, ...]:
        """Every match of (system, code); with `reverse`, the codes that map to it."""
        matches = (self._reverse if reverse else self._forward).get((system, code), ())
        if target_system is not None:
            return tuple(m for m in matches if m.system == target_system)
        return matches

    def correspondence(self, code: str, unit: str) -> Match | None:
        """The JDV correspondence of `code` whose target analysis is expressed in `unit` (UCUM)."""
        return in_unit(self._forward.get((LOINC, code), ()), unit)

    def correspondence_coding(self, code: str, unit: str) -> dict[str, str] | None:
        """The converter's question (`bridge.mapping.convert(correspondence=…)`): the LOINC
        Coding of `code`'s value written in `unit` (as the document wrote it)."""
        match = self.correspondence(code, ucum_code(unit))
        return None if match is None else match.coding()

    def analysis_label(self, code: str) -> str | None:
        """The converter's question (`convert(labels=…)`): the French label of a LOINC
        analysis, its print label, else its reference label."""
        concept = self.concepts.get(code)
        return (concept.print_label or concept.display) if concept is not None else None

    def knows(self, code: str) -> bool:
        """Whether the JDV lists `code` (as an analysis, or with correspondences): its
        silence about a correspondence is then an answer, not a gap."""
        return code in self.concepts or (LOINC, code) in self._forward

    def concept(self, code: str) -> JdvConcept | None:
        return self.concepts.get(code)

    def __len__(self) -> int:
        return sum(len(m) for m in self._forward.values())


def ucum_code(unit: str) -> str:
    """A unit as written in a document, as the JDV writes it (UCUM, the French aliases
    read): `G/L` → `10*9/L`; a unit UCUM does not know stays as written."""
    from bridge.mapping.units import read_unit

    return read_unit(unit).code or unit


def value_x(element: dict[str, Any]) -> Any:
    """The value[x] of a FHIR element (valueCode, valueDecimal…), or None when it has none."""
    return next((v for k, v in element.items() if k.startswith("value")), None)


def _read_properties(target: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    for ext in target.get("extension", ()):
        if ext.get("url") != TARGET_PROPERTY_EXTENSION:
            continue
        parts = {e["url"]: e for e in ext.get("extension", ())}
        code = parts.get("code", {}).get("valueCode")
        value = value_x(parts.get("value", {}))
        if code is not None and value is not None:
            if isinstance(value, float):
                value = Decimal(repr(value))
            yield code, value


_RELATIONSHIP = {
    "equivalent": "equivalent",
    "equal": "equivalent",
    "relatedto": "related-to",
    "wider": "source-is-narrower-than-target",
    "subsumes": "source-is-narrower-than-target",
    "narrower": "source-is-broader-than-target",
    "specializes": "source-is-broader-than-target",
    "inexact": "related-to",
    "unmatched": "not-related-to",
    "disjoint": "not-related-to",
}


def _relationship(equivalence: str) -> str:
    return _RELATIONSHIP.get(equivalence, "related-to")


def _concept(concept: dict[str, Any]) -> JdvConcept:
    props: dict[str, list[Any]] = {}
    for prop in concept.get("property", ()):
        props.setdefault(prop["code"], []).append(value_x(prop))

    def one(name: str) -> Any:
        return props.get(name, [None])[0]

    designations = concept.get("designation", ())
    return JdvConcept(
        code=concept["code"],
        display=concept.get("display", concept["code"]),
        print_label=designations[0]["value"] if designations else None,
        **{attr: one(code) for code, _, attr in CONCEPT_PROPERTIES},
        waiting_codes=tuple(props.get("waiting-code", ())),
        source=one("provenance") or "",
    )

"""Required bindings of the resource types served here, and of the datatypes they use.

The `fhir.resources` models check cardinalities and datatypes but not value sets: an
Observation with `status: "bogus"` parses. A required binding (FHIR R4, 4.0.1) leaves
no choice, so a code outside its value set is refused. Keys are the models' class
names (a backbone element is its resource's name + the element's, as fhir.resources
names them) and the JSON element name. Every set below is the full code list of the
value set named beside it, from http://hl7.org/fhir/R4/<resource>.html "Terminology
Bindings" and http://hl7.org/fhir/R4/datatypes.html. Bindings to MIME types (BCP 13,
not enumerable) are checked against the grammar type/subtype instead.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MIME_BINDINGS", "MIME_TYPE", "REQUIRED_BINDINGS"]

MIME_TYPE: Final = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[\w!#$&^.+-]+(\s*;.*)?")

_ADMINISTRATIVE_GENDER = frozenset({"male", "female", "other", "unknown"})  # administrative-gender
_DAYS_OF_WEEK = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})  # days-of-week
_UNITS_OF_TIME = frozenset({"s", "min", "h", "d", "wk", "mo", "a"})  # units-of-time
_QUANTITY_COMPARATOR = frozenset({"<", "<=", ">=", ">"})  # quantity-comparator
_ENCOUNTER_STATUS = frozenset(  # encounter-status
    {
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)
_PUBLICATION_STATUS = frozenset({"draft", "active", "retired", "unknown"})  # publication-status
_EVENT_TIMING = frozenset(  # event-timing
    "MORN MORN.early MORN.late NOON AFT AFT.early AFT.late EVE EVE.early EVE.late NIGHT "
    "PHS HS WAKE C CM CD CV AC ACM ACD ACV PC PCM PCD PCV".split()
)

# (model class, element) → the codes its required binding allows
REQUIRED_BINDINGS: Final[dict[tuple[str, str], frozenset[str]]] = {
    # Datatypes
    ("Identifier", "use"): frozenset({"usual", "official", "temp", "secondary", "old"}),
    ("HumanName", "use"): frozenset(
        {"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"}
    ),
    ("ContactPoint", "system"): frozenset(
        {"phone", "fax", "email", "pager", "url", "sms", "other"}
    ),
    ("ContactPoint", "use"): frozenset({"home", "work", "temp", "old", "mobile"}),
    ("Address", "use"): frozenset({"home", "work", "temp", "old", "billing"}),
    ("Address", "type"): frozenset({"postal", "physical", "both"}),
    ("Quantity", "comparator"): _QUANTITY_COMPARATOR,
    ("Age", "comparator"): _QUANTITY_COMPARATOR,
    ("Count", "comparator"): _QUANTITY_COMPARATOR,
    ("Distance", "comparator"): _QUANTITY_COMPARATOR,
    ("Duration", "comparator"): _QUANTITY_COMPARATOR,
    ("Narrative", "status"): frozenset({"generated", "extensions", "additional", "empty"}),
    ("TimingRepeat", "durationUnit"): _UNITS_OF_TIME,
    ("TimingRepeat", "periodUnit"): _UNITS_OF_TIME,
    ("TimingRepeat", "dayOfWeek"): _DAYS_OF_WEEK,
    ("TimingRepeat", "when"): _EVENT_TIMING,
    # Resources (observation-status, diagnostic-report-status…)
    ("Observation", "status"): frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("DiagnosticReport", "status"): frozenset(
        {
            "registered",
            "partial",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "appended",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("Patient", "gender"): _ADMINISTRATIVE_GENDER,
    ("PatientContact", "gender"): _ADMINISTRATIVE_GENDER,
    ("PatientLink", "type"): frozenset({"replaced-by", "replaces", "refer", "seealso"}),
    ("Practitioner", "gender"): _ADMINISTRATIVE_GENDER,
    ("PractitionerRoleAvailableTime", "daysOfWeek"): _DAYS_OF_WEEK,
    ("Specimen", "status"): frozenset(
        {"available", "unavailable", "unsatisfactory", "entered-in-error"}
    ),
    ("DocumentReference", "status"): frozenset({"current", "superseded", "entered-in-error"}),
    ("DocumentReference", "docStatus"): frozenset(
        {"preliminary", "final", "amended", "entered-in-error"}
    ),
    ("DocumentReferenceRelatesTo", "code"): frozenset(
        {"replaces", "transforms", "signs", "appends"}
    ),
    ("ServiceRequest", "status"): frozenset(
        {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
    ),
    ("ServiceRequest", "intent"): frozenset(
        {
            "proposal",
            "plan",
            "directive",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        }
    ),
    ("ServiceRequest", "priority"): frozenset({"routine", "urgent", "asap", "stat"}),
    ("Encounter", "status"): _ENCOUNTER_STATUS,
    ("EncounterStatusHistory", "status"): _ENCOUNTER_STATUS,
    ("EncounterLocation", "status"): frozenset({"planned", "active", "reserved", "completed"}),
    ("Media", "status"): frozenset(  # event-status
        {
            "preparation",
            "in-progress",
            "not-done",
            "on-hold",
            "stopped",
            "completed",
            "entered-in-error",
            "unknown",
        }
    ),
    ("ProvenanceEntity", "role"): frozenset(
        {"derivation", "revision", "quotation", "source", "removal"}
    ),
    ("ConceptMap", "status"): _PUBLICATION_STATUS,
    ("ConceptMapGroupElementTarget", "equivalence"): frozenset(
        {
            "relatedto",
            "equivalent",
            "equal",
            "wider",
            "subsumes",
            "narrower",
            "specializes",
            "inexact",
            "unmatched",
            "disjoint",
        }
    ),
    ("ConceptMapGroupUnmapped", "mode"): frozenset({"provided", "fixed", "other-map"}),
    ("CodeSystem", "status"): _PUBLICATION_STATUS,
    ("CodeSystem", "content"): frozenset(
        {"not-present", "example", "fragment", "complete", "supplement"}
    ),
    ("CodeSystem", "hierarchyMeaning"): frozenset(
        {"grouped-by", "is-a", "part-of", "classified-with"}
    ),
    ("CodeSystemFilter", "operator"): frozenset(
        {
            "=",
            "is-a",
            "descendent-of",
            "is-not-a",
            "regex",
            "in",
            "not-in",
            "generalizes",
            "exists",
        }
    ),
    ("CodeSystemProperty", "type"): frozenset(
        {"code", "Coding", "string", "integer", "boolean", "dateTime", "decimal"}
    ),
    ("OperationDefinition", "status"): _PUBLICATION_STATUS,
    ("OperationDefinition", "kind"): frozenset({"operation", "query"}),
    ("OperationDefinitionParameter", "use"): frozenset({"in", "out"}),
    ("OperationDefinitionParameter", "searchType"): frozenset(
        {
            "number",
            "date",
            "string",
            "token",
            "reference",
            "composite",
            "quantity",
            "uri",
            "special",
        }
    ),
    ("OperationDefinitionParameterBinding", "strength"): frozenset(
        {"required", "extensible", "preferred", "example"}
    ),
    ("Location", "status"): frozenset({"active", "suspended", "inactive"}),
    ("Location", "mode"): frozenset({"instance", "kind"}),
    ("LocationHoursOfOperation", "daysOfWeek"): _DAYS_OF_WEEK,
    ("Device", "status"): frozenset({"active", "inactive", "entered-in-error", "unknown"}),
    ("DeviceUdiCarrier", "entryType"): frozenset(
        {"barcode", "rfid", "manual", "card", "self-reported", "unknown"}
    ),
    ("DeviceDeviceName", "type"): frozenset(
        {
            "udi-label-name",
            "user-friendly-name",
            "patient-reported-name",
            "manufacturer-name",
            "model-name",
            "other",
        }
    ),
}

# (model class, element) bound to BCP 13 MIME types (mimetypes, required)
MIME_BINDINGS: Final = frozenset(
    {
        ("Attachment", "contentType"),
        ("Binary", "contentType"),
        ("Signature", "sigFormat"),
        ("Signature", "targetFormat"),
    }
)

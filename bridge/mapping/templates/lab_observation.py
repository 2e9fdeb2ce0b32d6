"""FR-Resultat-examens-de-biologie-element-clinique-pertinent → Observation.

source: observation, templateIds 1.3.6.1.4.1.19376.1.3.1.6 (IHE PaLM Laboratory
        Observation) + 1.2.250.1.213.1.1.3.80 (CI-SIS)
target: Observation, category laboratory (+ the chapter codes)

One statement per FHIR element, in the order of the brief's table (§3).
"""

from __future__ import annotations

from typing import Any

from bridge.cda.model import LabResult, UnknownEntry
from bridge.mapping.code_text import with_analysis_text
from bridge.mapping.codes import CODE_ABSENT, DATA_ABSENT_REASON, LOINC, NOT_PERFORMED
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.datatypes import codeable_concept
from bridge.mapping.registry import map_entries, maps
from bridge.mapping.templates.earlier_result import earlier_results
from bridge.mapping.templates.media import map_media
from bridge.mapping.templates.observation_parts import (
    base_observation,
    interpretations,
    narrow_scope,
    notes,
    observation_status,
)
from bridge.mapping.templates.second_unit import second_units
from bridge.mapping.templates.specimen import specimen_reference
from bridge.mapping.values import display_value, observation_value, reference_range

__all__ = ["map_lab_observation", "result_code"]

REPLACED = {
    "coding": [{"system": DATA_ABSENT_REASON, "code": "unknown", "display": "Unknown"}],
    "text": "replaced by another examination",
}
# The note keeping a withdrawn result's value (never a current value, brief §3)
WITHDRAWN_NOTE = "value reported but withdrawn"
# A value the document writes but that cannot be read (not a number, beyond a FHIR
# decimal): never silently a result without value; the issue list says what was written
UNREADABLE = {
    "coding": [{"system": DATA_ABSENT_REASON, "code": "error", "display": "Error"}],
    "text": "value written in the report but not readable",
}


def result_code(result: Any, ctx: MappingContext, *, compared: bool = True) -> dict[str, Any]:
    """Observation.code: LOINC first, translations kept; without LOINC, a warning (brief §3).

    `code.text` names the analysis, never the value its originalText may point at
    (`bridge.mapping.code_text`). `compared` is False for batteries: a panel is never
    compared, so a panel coded without LOINC (a lab's own battery) is not worth a warning.
    """
    code = codeable_concept(result.code, ctx, loinc_first=True, require_display=compared)
    code = with_analysis_text(code, result.code, getattr(result, "value", None), ctx)
    node = result.code.node if result.code is not None else result.node
    if code is None:
        ctx.issues.add("code-missing", node, "element without code nor text")
        return dict(CODE_ABSENT)
    if compared and not any(c.get("system") == LOINC for c in code.get("coding", ())):
        kept = "a local code" if code.get("coding") else "text only"
        ctx.issues.add(
            "loinc-absent", node, f"result not coded in LOINC: {kept} kept; it is never compared"
        )
    return code


@maps(LabResult)
def map_lab_observation(
    result: LabResult, scope: Scope, ctx: MappingContext
) -> list[dict[str, str]]:
    scope = narrow_scope(scope, result.performers, result.validators, result.key, ctx)
    status = observation_status(result.status, result.node, ctx)
    code = result_code(result, ctx)
    # Observation.contained + workflow-supportingInfo: earlier results (REFR), never current
    contained, extension = earlier_results(result.earlier_results, ctx)
    obs = base_observation(
        ctx.local_id("Observation", result.key),
        result.ids,
        status,
        code,
        result.effective,
        result.node,
        scope,
        ctx,
        contained=contained,
        extension=extension,
    )
    # Observation.value[x] or dataAbsentReason. An aborted or obsolete result is never shown
    # as a current value (brief §3): a value it still carries goes into its note.
    value = observation_value(result.value, ctx)
    withdrawn = result.status in ("aborted", "obsolete")
    if value is not None and not withdrawn:
        obs[value[0]] = value[1]
    elif withdrawn:
        obs["dataAbsentReason"] = NOT_PERFORMED if result.status == "aborted" else REPLACED
    elif result.value is not None:
        obs["dataAbsentReason"] = UNREADABLE
    # Observation.interpretation
    interpretation = interpretations(result.interpretations, ctx)
    if interpretation:
        obs["interpretation"] = interpretation
    # Observation.note: comments, and "replaced" for an obsolete result
    note = notes(result.comments, ctx, obsolete=result.status == "obsolete")
    if withdrawn and value is not None and value[0] != "dataAbsentReason":
        note.append({"text": f"{WITHDRAWN_NOTE} ({result.status}): {display_value(value)}"})
    if note:
        obs["note"] = note
    # Observation.method: methodCode (TCCR reagent code or free text)
    if result.methods:
        if len(result.methods) > 1:
            ctx.issues.add(
                "several-kept-first",
                result.methods[1].node,
                "several methodCode: FHIR Observation.method takes one; the first is kept",
            )
        method = codeable_concept(result.methods[0], ctx)
        if method:
            obs["method"] = method
    # Observation.specimen: the result's own specimen, else the one of its act or battery
    specimens = [specimen_reference(s, ctx) for s in result.specimens] or list(scope.specimens)
    if specimens:
        obs["specimen"] = specimens[0]
    if scope.device:
        obs["device"] = scope.device
    # Observation.referenceRange: every range (brief §3), never valueRange
    ranges = [r for r in (reference_range(rr, ctx) for rr in result.reference_ranges) if r]
    if ranges:
        obs["referenceRange"] = ranges
    # Observation.component: the 2021-style second unit (PQ translation), kept and visible
    components = second_units(
        result.code, result.value, result.reference_ranges, interpretation, ctx
    )
    if components:
        obs["component"] = components
    ref = ctx.add(obs)
    for media in result.media:
        map_media(media, ref, ctx)
    # Statements nested in the result (CR-BIO nests none): a result there is still a
    # result the clinician must see, mapped next to this one, with a warning
    for entry in result.nested:
        if not isinstance(entry, UnknownEntry):
            ctx.issues.add(
                "result-nested",
                entry.node,
                "a statement nested in a result "
                "(CR-BIO nests none): mapped next to it, not inside it",
            )
    return [ref, *map_entries(result.nested, scope, ctx)]

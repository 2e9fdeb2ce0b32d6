"""Elements every lab Observation is built from: status, time, performers, notes.

Shared by the result, battery and isolate mappers so that the three read alike.
"""

from __future__ import annotations

from typing import Any

from bridge.cda.datatypes import CD, IVL_TS
from bridge.cda.model import Comment, Participation, SpecimenCollection
from bridge.mapping.codes import INTERPRETATION, OBSERVATION_STATUS, interpretation_display
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.datatypes import codeable_concept, effective, identifier, instant
from bridge.mapping.templates.participants import entity_references
from bridge.mapping.templates.specimen import collection_time

__all__ = [
    "LABORATORY",
    "base_observation",
    "interpretations",
    "notes",
    "observation_status",
    "performers",
    "narrow_scope",
    "validation_time",
]

LABORATORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "laboratory",
            "display": "Laboratory",
        }
    ]
}
REPLACED_NOTE = "replaced by another examination (CDA statusCode obsolete)"


def observation_status(status: str | None, node: Any, ctx: MappingContext) -> str:
    """statusCode → Observation.status (brief §3: completed final, active registered,
    aborted cancelled, obsolete cancelled with a note)."""
    mapped = OBSERVATION_STATUS.get(status or "")
    if mapped is None:
        ctx.issues.add(
            "status-unknown",
            node,
            f"statusCode {status!r} is not one of completed, active, aborted, "
            "obsolete: status unknown",
            input=status,
        )
        return "unknown"
    return mapped


def validation_time(
    validators: tuple[Participation, ...], inherited: str | None, ctx: MappingContext
) -> str | None:
    """When the first validator with a time validated, as an instant (Observation.issued).

    Converted once for every result in scope. Without a written time, the inherited
    one; a time written but unreadable gives None (the document's time then stands in).
    """
    for v in validators:
        if v.time is not None:
            written = v.time.high or v.time.value or v.time.low
            return instant(written, ctx, v.time.node) if written else inherited
    return inherited


def performers(
    participations: tuple[Participation, ...], key: str, ctx: MappingContext
) -> tuple[dict[str, str], ...]:
    """References for the people and organisations of some participations, without repeats."""
    refs: list[dict[str, str]] = []
    for i, p in enumerate(participations):
        for ref in entity_references(p.entity, ctx, f"{key}/{i}"):
            if ref not in refs:
                refs.append(ref)
    return tuple(refs)


def base_observation(
    resource_id: str,
    ids: tuple,
    status: str,
    code: dict[str, Any],
    time: IVL_TS | None,
    node: Any,
    scope: Scope,
    ctx: MappingContext,
    *,
    contained: list[dict[str, Any]] | None = None,
    extension: list[dict[str, Any]] | None = None,
    time_in_scope: bool = False,
) -> dict[str, Any]:
    """The elements common to results, batteries and isolates, in FHIR element order.

    `time_in_scope`: the element's own time was handed to `scope` by narrow_scope (an
    organizer's), and is read there, already converted.
    """
    obs: dict[str, Any] = {"resourceType": "Observation", "id": resource_id}
    if contained:
        obs["contained"] = contained
    if extension:
        obs["extension"] = extension
    identifiers = [i for i in map(identifier, ids) if i]
    if identifiers:
        obs["identifier"] = identifiers
    if ctx.based_on:
        obs["basedOn"] = list(ctx.based_on)
    obs["status"] = status
    obs["category"] = [LABORATORY, *scope.categories]
    obs["code"] = code
    obs["subject"] = ctx.subject
    if ctx.encounter:
        obs["encounter"] = ctx.encounter
    # Observation.effective[x]: specimen collection time; an organizer's or the
    # specimen's time stands in when the element gives none (a time written but
    # unreadable is not replaced)
    if time is not None:
        when = scope.effective if time_in_scope else effective(time, ctx)
    else:
        when = scope.effective
        if when is not None:
            ctx.issues.add(
                "effective-inherited",
                node,
                "no effectiveTime: the organizer's or the specimen's time is used",
                severity="information",
            )
    if when is not None:
        obs[when[0]] = when[1]
    # Observation.issued: when the biologist validated, else when the document was made
    if scope.validated or ctx.issued:
        obs["issued"] = scope.validated or ctx.issued
    # Observation.performer: the executing lab, then the biologist who validated
    performer = [*scope.performers, *(v for v in scope.validators if v not in scope.performers)]
    if performer:
        obs["performer"] = performer
    return obs


def interpretations(codes: tuple[CD, ...], ctx: MappingContext) -> list[dict[str, Any]]:
    """interpretationCode → interpretation; a code outside the value set is kept, with a warning."""
    out = []
    for cd in codes:
        concept = codeable_concept(cd, ctx)
        if concept is None:
            continue
        first = concept.get("coding", [{}])[0]
        display = interpretation_display(cd.code) if first.get("system") == INTERPRETATION else None
        if display is None:
            ctx.issues.add(
                "interpretation-outside-value-set",
                cd.node,
                f"interpretation {cd.code!r} ({cd.code_system}) is not in "
                "jdv-hl7-v3-ObservationInterpretation-cisis; kept as given",
                input=cd.code,
            )
        elif "display" not in first:
            first["display"] = display
        out.append(concept)
    return out


def notes(
    comments: tuple[Comment, ...], ctx: MappingContext, *, obsolete: bool = False
) -> list[dict[str, str]]:
    """Comments (FR-Commentaire-ER) → Annotation; an obsolete result says it was replaced."""
    out = []
    for comment in comments:
        if comment.text:
            out.append({"text": comment.text})
        elif comment.text_ref:
            ctx.issues.add(
                "narrative-reference-missing",
                comment.node,
                f"comment text reference {comment.text_ref} points to no narrative "
                "element; comment left out",
                input=comment.text_ref,
            )
    if obsolete:
        out.append({"text": REPLACED_NOTE})
    return out


def narrow_scope(
    scope: Scope,
    own_performers: tuple[Participation, ...],
    own_validators: tuple[Participation, ...],
    key: str,
    ctx: MappingContext,
    *,
    time: IVL_TS | None = None,
    collections: tuple[SpecimenCollection, ...] = (),
    **changes: Any,
) -> Scope:
    """The scope of an element: its own lab and its own validators replace the inherited ones.

    The two are separate: a battery naming only its validating biologist still ran in
    the lab of its act or of the report. Times handed down are converted here, once:
    an organizer's own `time` (even unreadable) replaces the inherited one; the
    collection time of the element's own specimens (`collections`) stands in only
    while no organizer gave a time.
    """
    if own_performers:
        changes["performers"] = performers(own_performers, f"{key}/performer", ctx)
    if own_validators:
        changes["validators"] = performers(own_validators, f"{key}/validator", ctx)
        changes["validated"] = validation_time(own_validators, scope.validated, ctx)
    if time is not None:
        changes["effective"] = effective(time, ctx)
        changes["organizer_timed"] = True
    elif collections and not scope.organizer_timed:
        changes["effective"] = effective(collection_time(collections[0]), ctx)
    return scope.within(**changes) if changes else scope

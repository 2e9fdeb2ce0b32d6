"""FR-Resultats-examens-de-biologie-medicale (act) → the scope of its results.

source: act, templateIds 1.3.6.1.4.1.19376.1.3.1 + 1.2.250.1.213.1.1.3.21, with its
        performer (lab, 1.3.6.1.4.1.19376.1.3.3.1.7), participant AUTHEN (validating
        biologist), participant DEV (point-of-care device), FR-Prelevement specimens,
        comments, and entryRelationship COMP results / batteries / isolates
target: no resource of its own; its results become DiagnosticReport.result, its
        comments DiagnosticReport notes, its specimens DiagnosticReport.specimen
"""

from __future__ import annotations

from bridge.cda.model import LabReportAct
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.registry import map_entries, maps
from bridge.mapping.templates.observation_parts import narrow_scope, notes
from bridge.mapping.templates.participants import device
from bridge.mapping.templates.specimen import specimen_reference

__all__ = ["map_lab_report_act"]


@maps(LabReportAct)
def map_lab_report_act(
    act: LabReportAct, scope: Scope, ctx: MappingContext
) -> list[dict[str, str]]:
    specimens = tuple(specimen_reference(s, ctx) for s in act.specimens)
    changes: dict = {"specimens": specimens} if specimens else {}
    analyser = next(
        (d for i, e in enumerate(act.devices) if (d := device(e, ctx, f"{act.key}/device/{i}"))),
        None,
    )
    if analyser:
        changes["device"] = analyser
    scope = narrow_scope(
        scope, act.performers, act.validators, act.key, ctx, collections=act.specimens, **changes
    )
    # comments on the whole act: notes of the report
    ctx.notes.extend(notes(act.comments, ctx))
    return map_entries(act.members, scope, ctx)

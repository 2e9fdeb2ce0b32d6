"""FR-Commentaire-ER met at report level → a note of the DiagnosticReport.

source: act code 48767-8, templateIds 2.16.840.1.113883.10.20.1.40 +
        1.3.6.1.4.1.19376.1.5.3.1.4.2 + 1.2.250.1.213.1.1.3.32
target: DiagnosticReport note (R5 cross-version extension, see report.py). Comments on a
        result or a battery become that Observation's note (observation_parts.notes).
"""

from __future__ import annotations

from bridge.cda.model import Comment
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.registry import maps
from bridge.mapping.templates.observation_parts import notes

__all__ = ["map_comment_entry"]


@maps(Comment)
def map_comment_entry(comment: Comment, scope: Scope, ctx: MappingContext) -> list[dict[str, str]]:
    ctx.notes.extend(notes((comment,), ctx))
    return []

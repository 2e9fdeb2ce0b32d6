"""Entries no mapper handles: reported, never a crash.

source: any clinical statement whose templateIds match no CR-BIO template, or one
        found where it cannot be shown (an earlier result with no current result)
target: none; an `unknown-template` or `entry-not-shown` issue names it (its narrative
        stays in the source document, kept as a DocumentReference)
"""

from __future__ import annotations

from bridge.cda.model import UnknownEntry
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.registry import maps

__all__ = ["map_unknown_entry"]


@maps(UnknownEntry)
def map_unknown_entry(
    entry: UnknownEntry, scope: Scope, ctx: MappingContext
) -> list[dict[str, str]]:
    ids = ", ".join(entry.template_ids) or "no templateId"
    if entry.why:  # read where it cannot mean anything
        ctx.issues.add("entry-not-shown", entry.node, entry.why, input=ids)
        return []
    ctx.issues.add(
        "unknown-template",
        entry.node,
        f"<{entry.element}> ({ids}) is not a CR-BIO entry crbio-bridge maps; "
        "it stays in the source document only",
        input=ids,
    )
    return []

"""Body sections: chapters and sub-chapters give categories; other sections their notes.

source: FR-CR-BIO-Chapitre (1.3.6.1.4.1.19376.1.3.3.2.1 + 1.2.250.1.213.1.1.2.70),
        FR-CR-BIO-Sous-Chapitre (…3.3.2.2 + …2.71), FR-Commentaire-non-code (…2.73),
        FR-Document-PDF-copie (…2.243), second-line lab results (…2.60)
target: DiagnosticReport.category and Observation.category (the chapter codes),
        DiagnosticReport.result (top-level Observations), report notes
"""

from __future__ import annotations

from typing import Any

from bridge.cda import templates as t
from bridge.cda.limits import MAX_DEPTH, too_deep
from bridge.cda.model import Section
from bridge.mapping.context import MappingContext, Scope
from bridge.mapping.datatypes import codeable_concept
from bridge.mapping.registry import map_entries

__all__ = ["map_sections"]

_RESULT_SECTIONS = t.CHAPTER_SECTION + t.SUB_CHAPTER_SECTION
_DOCUMENT_SECTIONS = t.PDF_COPY_SECTION + t.SECOND_LINE_LAB_SECTION


def map_sections(
    sections: tuple[Section, ...], scope: Scope, ctx: MappingContext
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Map every section; returns the report's results and its chapter categories.

    `scope` holds what the header says of every result: the lab that performed the
    examinations (serviceEvent performer) and the biologists who validated them.
    """
    results: list[dict[str, str]] = []
    categories: list[dict[str, Any]] = []
    for section in sections:
        _map_section(section, scope, ctx, results, categories, 0)
    return results, categories


def _map_section(
    section: Section,
    scope: Scope,
    ctx: MappingContext,
    results: list[dict[str, str]],
    categories: list[dict[str, Any]],
    depth: int,
) -> None:
    if depth > MAX_DEPTH:
        raise too_deep("sections")
    ids = section.template_ids
    if any(i in _RESULT_SECTIONS for i in ids):
        category = codeable_concept(section.code, ctx)
        if category:
            category = {"coding": category.get("coding", [])} if "coding" in category else category
            if category not in categories:
                categories.append(category)
            if category not in scope.categories:
                scope = scope.within(categories=(*scope.categories, category))
        results.extend(map_entries(section.entries, scope, ctx))
    elif any(i in t.COMMENT_SECTION for i in ids):
        if section.text:
            title = f"{section.title}: " if section.title else ""
            ctx.notes.append({"text": f"{title}{section.text}"})
    elif any(i in _DOCUMENT_SECTIONS for i in ids):
        map_entries(section.entries, scope, ctx)
    else:
        what = section.title or (section.code.display_name if section.code else None) or "section"
        ctx.issues.add(
            "unmapped-section",
            section.node,
            f"section {what!r} ({', '.join(ids) or 'no templateId'}) is not a CR-BIO "
            "results section: kept in the source document only",
            severity="information",
        )
        return
    for sub in section.sections:
        _map_section(sub, scope, ctx, results, categories, depth + 1)

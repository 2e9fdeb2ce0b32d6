"""How deep a document may nest: the one bound of every recursive walk of the project.

Sections hold sections, organizers hold organizers, a REFR holder refers to an
organizer of organizers, a code's translation has translations: the readers (and the
mappers that follow the same structure) walk these by recursion. A walk stops at
`MAX_DEPTH` levels with `TooDeepError`, a refusal of the whole document that the API
answers with a 422 OperationOutcome and the CLI names, never with Python's
`RecursionError`. libxml2 (with `huge_tree`) accepts 2,048 levels, deeper than Python's
stack; the 20 ANS example reports nest sections, organizers and translations at most
two levels deep. Narrative markup is the exception that is not refused: nested deeper
than the bound, it is kept as its text (`bridge.cda.reading.narrative`), a display
detail no reason to refuse a report.
"""

from __future__ import annotations

from bridge.errors import TooDeepError

__all__ = ["MAX_DEPTH", "too_deep"]

MAX_DEPTH = 32


def too_deep(what: str) -> TooDeepError:
    """The refusal of a document whose `what` (plural) nest beyond `MAX_DEPTH` levels."""
    return TooDeepError(f"{what} nest more than {MAX_DEPTH} levels deep")

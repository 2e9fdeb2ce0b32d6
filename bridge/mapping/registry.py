"""Which mapper handles which CDA template: one registered function per body-entry class.

Each class of `bridge.cda.model` that the body reader produces stands for one CR-BIO
template (its docstring names it); `templates/` registers exactly one mapper for each,
so the listing of `templates/` is the list of supported templates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from bridge.cda.limits import MAX_DEPTH, too_deep
from bridge.mapping.context import MappingContext, Scope

__all__ = ["MAPPERS", "EntryMapper", "map_entries", "map_entry", "maps"]

Reference = dict[str, str]
EntryMapper = Callable[[Any, Scope, MappingContext], list[Reference]]
MAPPERS: dict[type, EntryMapper] = {}
F = TypeVar("F", bound=EntryMapper)


def maps(entry_type: type) -> Callable[[F], F]:
    """Register the mapper of one body-entry class."""

    def register(mapper: F) -> F:
        if entry_type in MAPPERS:
            raise RuntimeError(f"{entry_type.__name__} already has a mapper")
        MAPPERS[entry_type] = mapper
        return mapper

    return register


def map_entry(entry: Any, scope: Scope, ctx: MappingContext) -> list[Reference]:
    """Map one entry; returns the references a container lists (hasMember, result)."""
    return MAPPERS[type(entry)](entry, scope, ctx)


def map_entries(entries: Any, scope: Scope, ctx: MappingContext) -> list[Reference]:
    """Map the entries of one container (a section, an act, an organizer, a result).

    Containers map their members by recursion: `ctx.depth` counts the containers being
    mapped, one inside the other, and a document built deeper than any reading allows
    is refused rather than exhausting the stack.
    """
    if ctx.depth >= MAX_DEPTH:
        raise too_deep("entries")
    ctx.depth += 1
    try:
        return [ref for entry in entries for ref in map_entry(entry, scope, ctx)]
    finally:
        ctx.depth -= 1

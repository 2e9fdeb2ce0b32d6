"""Reader for narrative blocks (`section/text`): the human-readable part of a section.

The block is read as it is written, into `NarrativeElement` trees: every element,
attribute and piece of text, from whatever namespace. Deciding what may be shown
(FHIR's XHTML rules) belongs to the mapping layer; reading it all here keeps every
element walk of the project in `bridge.cda`.

Depth is bounded: an element nested deeper than `NARRATIVE_MAX_DEPTH` below
`section/text` is kept as its text only ("flattened"), so that a hostile document
(tables nested five hundred deep) can neither exhaust the stack nor be refused for a
display detail. Real reports nest a table in a cell once or twice (about ten levels).
"""

from __future__ import annotations

from lxml import etree

from bridge.cda.limits import MAX_DEPTH
from bridge.cda.model import Narrative, NarrativeElement
from bridge.cda.parsing import V3

__all__ = ["ELEMENT_ONLY", "NARRATIVE_MAX_DEPTH", "read_narrative"]

NARRATIVE_MAX_DEPTH = MAX_DEPTH  # the project's one nesting bound; narrative is flattened
_V3_PREFIX = f"{{{V3}}}"
_V3_LENGTH = len(_V3_PREFIX)
# CDA narrative elements without text of their own (NarrativeBlock.xsd: element-only)
ELEMENT_ONLY = frozenset({"table", "thead", "tbody", "tfoot", "tr", "colgroup", "list"})
_NO_ATTRIBUTES: dict[str, str] = {}  # shared by every element without attributes; never mutated


class _Reading:
    """What one block's walk collects besides the tree."""

    __slots__ = ("ids", "footnote_refs", "flattened")

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.footnote_refs = False
        self.flattened = 0

    def children(
        self, el: etree._Element, depth: int, element_only: bool = False
    ) -> list[NarrativeElement | str]:
        """The children of `el` at `depth`, text and tails in place, elements read in turn.

        One function for both levels (rather than one per element): narrative blocks are
        a tenth of a report's elements, and a call per element is most of their cost.
        With `element_only` (an element NarrativeBlock.xsd gives no text: a table, a row,
        a list), white space between its children is layout, not content, and is left out.
        """
        found: list[NarrativeElement | str] = []
        text = el.text
        if text and not (element_only and text.isspace()):
            found.append(text)
        deeper = depth + 1
        for item in el:
            tag = item.tag
            if tag.__class__ is str:  # comments and processing instructions are not read
                if depth >= NARRATIVE_MAX_DEPTH:
                    self.flattened += 1
                    found.append("".join(item.itertext()))
                else:
                    if tag.startswith(_V3_PREFIX):
                        name = tag[_V3_LENGTH:]
                    else:  # another namespace, or none (xmlns=""): never a CDA element
                        name = tag if tag[0] == "{" else "{}" + tag
                    items = item.items()
                    if items:
                        attributes = dict(items)
                        id_value = attributes.get("ID")
                        if id_value:
                            self.ids.add(id_value)
                    else:
                        attributes = _NO_ATTRIBUTES
                    if name == "footnoteRef":
                        self.footnote_refs = True
                    content = self.children(item, deeper, name in ELEMENT_ONLY)
                    found.append(NarrativeElement(name, attributes, content))
            tail = item.tail
            if tail and not (element_only and tail.isspace()):
                found.append(tail)
        return found


def read_narrative(text: etree._Element | None) -> Narrative | None:
    """The narrative block `text` (a section's `text` element) as a tree; None when absent."""
    if text is None:
        return None
    reading = _Reading()
    content = reading.children(text, 0)
    return Narrative(
        content=content,
        ids=frozenset(reading.ids),
        has_footnote_refs=reading.footnote_refs,
        flattened=reading.flattened,
        node=text,
    )

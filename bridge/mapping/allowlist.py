"""The allow-list of DiagnosticReport.text: what FHIR narrative may hold, and how CDA
narrative maps onto it. Data only; `bridge.mapping.narrative` applies it while
converting, `bridge.mapping.xhtml` refuses to write anything outside it.

FHIR side. FHIR R4 §2.4 (Narrative) and its invariant txt-1 allow in `Narrative.div`
only the basic formatting elements of HTML 4.0 chapters 7-11 and 15, `<a>` (name or
href), images and style attributes: no head or body, no script, no form, no frames,
objects or external stylesheets, no event attributes (`onclick`…). `ELEMENTS` is the
part of that list crbio-bridge writes, each with the attributes it may carry; `VALUES`
says what an attribute's value may look like (one that does not fit is dropped).
There is no `img`: an image of a CDA document is an observationMedia outside the
narrative, and an `img src` outside the resource is an external reference.

CDA side. `CDA_ELEMENTS` gives each element of the CDA R2 narrative block
(NarrativeBlock.xsd) the XHTML element it becomes and the CDA attributes carried over
(renamed: ID → id, language → lang, styleCode → style through `STYLES`, a fixed table
of CSS: no style ever comes from the document). An element or attribute not listed is
not markup FHIR may show: it is dropped and its text kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CDA_ELEMENTS", "ELEMENTS", "STYLES", "VALUES", "Rule"]

# FHIR side -------------------------------------------------------------------

_CORE = frozenset({"id", "style", "lang", "title"})
_CELL = _CORE | {"align", "valign", "colspan", "rowspan", "scope", "abbr"}
_GROUP = _CORE | {"align", "valign"}

# XHTML element → the attributes it may carry (a subset of FHIR R4 txt-1)
ELEMENTS: dict[str, frozenset[str]] = {
    "div": _CORE,
    "p": _CORE,
    "span": _CORE,
    "br": frozenset(),
    "sub": _CORE,
    "sup": _CORE,
    "h1": _CORE,
    "h2": _CORE,
    "h3": _CORE,
    "h4": _CORE,
    "h5": _CORE,
    "h6": _CORE,
    "ul": _CORE,
    "ol": _CORE | {"start"},
    "li": _CORE,
    "table": _CORE | {"border", "cellpadding", "cellspacing", "width", "summary"},
    "caption": _CORE,
    "colgroup": _GROUP | {"span", "width"},
    "col": _GROUP | {"span", "width"},
    "thead": _GROUP,
    "tbody": _GROUP,
    "tfoot": _GROUP,
    "tr": _GROUP,
    "th": _CELL,
    "td": _CELL,
    "a": _CORE | {"href"},
}

_NUMBER = re.compile(r"[0-9]{1,4}")
_LENGTH = re.compile(r"[0-9]{1,4}(?:px|%)?")
# attribute → the form its value must have (attributes absent here take any text)
VALUES: dict[str, re.Pattern[str]] = {
    "id": re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}"),
    "lang": re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,4}"),
    "align": re.compile(r"left|center|right|justify"),
    "valign": re.compile(r"top|middle|bottom|baseline"),
    "scope": re.compile(r"row|col|rowgroup|colgroup"),
    "colspan": _NUMBER,
    "rowspan": _NUMBER,
    "span": _NUMBER,
    "start": _NUMBER,
    "border": _NUMBER,
    "cellpadding": _LENGTH,
    "cellspacing": _LENGTH,
    "width": _LENGTH,
    "style": re.compile(r"[a-z-]+: [a-z0-9 .#-]+(?:; [a-z-]+: [a-z0-9 .#-]+)*"),
}


# CDA side --------------------------------------------------------------------

_CDA_COMMON = {"ID": "id", "language": "lang", "styleCode": "style"}
_CDA_CELL = {
    **_CDA_COMMON,
    **{name: name for name in ("colspan", "rowspan", "align", "valign", "scope", "abbr")},
}
_CDA_GROUP = {**_CDA_COMMON, "align": "align", "valign": "valign"}
_CDA_TABLE = {
    **_CDA_COMMON,
    **{name: name for name in ("border", "cellpadding", "cellspacing", "width", "summary")},
}
_CDA_COLUMNS = {**_CDA_GROUP, "span": "span", "width": "width"}


@dataclass(frozen=True, slots=True)
class Rule:
    """How one CDA narrative element is written in XHTML."""

    tag: str  # the XHTML element ("" for the elements with their own function)
    attributes: Mapping[str, str] = field(default_factory=dict)  # CDA name → XHTML name
    # CDA attributes read by the element's own function, or without XHTML equivalent
    # (axis, headers, char…): dropped without being reported
    known: frozenset[str] = frozenset()


_UNSHOWN = frozenset({"char", "charoff", "axis", "headers", "frame", "rules"})

# The allow-list: CDA narrative element → its XHTML form (CDA R2 NarrativeBlock.xsd)
CDA_ELEMENTS: dict[str, Rule] = {
    "paragraph": Rule("p", _CDA_COMMON),
    "content": Rule("span", _CDA_COMMON, frozenset({"revised"})),
    "sub": Rule("sub"),
    "sup": Rule("sup"),
    "br": Rule("br"),
    "caption": Rule("caption", _CDA_COMMON),
    "table": Rule("table", _CDA_TABLE, _UNSHOWN),
    "colgroup": Rule("colgroup", _CDA_COLUMNS, _UNSHOWN),
    "col": Rule("col", _CDA_COLUMNS, _UNSHOWN),
    "thead": Rule("thead", _CDA_GROUP, _UNSHOWN),
    "tbody": Rule("tbody", _CDA_GROUP, _UNSHOWN),
    "tfoot": Rule("tfoot", _CDA_GROUP, _UNSHOWN),
    "tr": Rule("tr", _CDA_GROUP, _UNSHOWN),
    "th": Rule("th", _CDA_CELL, _UNSHOWN),
    "td": Rule("td", _CDA_CELL, _UNSHOWN),
    "list": Rule("", _CDA_COMMON, frozenset({"listType"})),
    "item": Rule("li", _CDA_COMMON),
    "linkHtml": Rule("", _CDA_COMMON, frozenset({"href", "name", "rel", "rev", "title"})),
    "footnote": Rule("", _CDA_COMMON),
    "footnoteRef": Rule("", _CDA_COMMON, frozenset({"IDREF"})),
    "renderMultiMedia": Rule("", _CDA_COMMON, frozenset({"referencedObject"})),
}

# styleCode (CDA R2 §4.3.5.11, compared without case) → CSS, from this table only
STYLES: dict[str, str] = {
    "bold": "font-weight: bold",
    "italics": "font-style: italic",
    "underline": "text-decoration: underline",
    "emphasis": "font-style: italic",
    "lrule": "border-left: 1px solid",
    "rrule": "border-right: 1px solid",
    "toprule": "border-top: 1px solid",
    "botrule": "border-bottom: 1px solid",
    "arabic": "list-style-type: decimal",
    "littleroman": "list-style-type: lower-roman",
    "bigroman": "list-style-type: upper-roman",
    "littlealpha": "list-style-type: lower-alpha",
    "bigalpha": "list-style-type: upper-alpha",
    "disc": "list-style-type: disc",
    "circle": "list-style-type: circle",
    "square": "list-style-type: square",
}

"""FHIR R4 narrative rules, checked without the converter's own tables.

The lists are those of FHIR R4's invariant txt-1 (narrative-definitions, its XPath
form): the elements and attributes a `Narrative.div` may hold. On top, what "no active
or external content" means for crbio-bridge: no event attribute, links only to a
fragment of the div or to an http(s) URL, no image loaded from anywhere, no CSS that
loads or runs anything; txt-2: some non-whitespace content.
"""

from __future__ import annotations

import re

from lxml import etree

XHTML = "{http://www.w3.org/1999/xhtml}"
# FHIR R4 txt-1: elements
R4_ELEMENTS = frozenset(
    "a abbr acronym b big blockquote br caption cite code col colgroup dd dfn div dl dt em "
    "h1 h2 h3 h4 h5 h6 hr i img li ol p pre q samp small span strong sub sup table tbody td "
    "tfoot th thead tr tt ul var".split()
)
# FHIR R4 txt-1: attributes
R4_ATTRIBUTES = frozenset(
    "abbr accesskey align alt axis bgcolor border cellhalign cellpadding cellspacing "
    "cellvalign char charoff charset cite class colspan compact coords dir frame headers "
    "height href hreflang hspace id lang longdesc name nowrap rel rev rowspan rules scope "
    "shape span src start style summary tabindex title type valign value vspace width".split()
)
_UNSAFE_CSS = re.compile(r"url\s*\(|expression|javascript|@import|behavior|\\", re.IGNORECASE)


def narrative_problems(div: str) -> list[str]:
    """Every way `div` breaks the rules above; empty when it obeys them."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(div.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed: {exc}"]
    problems = []
    if root.tag != f"{XHTML}div":
        problems.append(f"root is {root.tag}, not an XHTML div")
    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    seen_ids: set[str] = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            problems.append(f"a comment or processing instruction: {el!r}")
            continue
        if not el.tag.startswith(XHTML):
            problems.append(f"element outside XHTML: {el.tag}")
            continue
        name = el.tag[len(XHTML) :]
        if name not in R4_ELEMENTS:
            problems.append(f"element not allowed by txt-1: <{name}>")
        for attribute, value in el.attrib.items():
            if attribute not in R4_ATTRIBUTES:
                problems.append(f"attribute not allowed by txt-1: <{name} {attribute}>")
            if attribute.lower().startswith("on"):
                problems.append(f"event attribute: <{name} {attribute}>")
            if attribute == "style" and _UNSAFE_CSS.search(value):
                problems.append(f"active style: {value!r}")
            if attribute == "id":
                if value in seen_ids:
                    problems.append(f"duplicate id {value!r}")
                seen_ids.add(value)
        href = el.get("href")
        if href is not None:
            if href.startswith("#"):
                if href[1:] not in ids:
                    problems.append(f"link to a fragment that is not in the div: {href}")
            elif not re.match(r"https?://[^/\s@]+(/|$)", href):
                problems.append(f"link that is neither a fragment nor http(s): {href!r}")
        src = el.get("src")
        if src is not None and not src.startswith("#"):
            problems.append(f"image loaded from outside the resource: {src!r}")
    if not "".join(root.itertext()).strip() and root.find(f".//{XHTML}img") is None:
        problems.append("txt-2: no non-whitespace content")
    return problems

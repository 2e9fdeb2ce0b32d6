"""Names, child lookup and the narrative index shared by the readers.

Readers look children up through `kids()`: one pass over an element's children,
grouped by local name. With lxml every child access builds a Python proxy and a
tag string, so reading each element's children once (instead of one `find()` per
wanted child) is what keeps reading within a small factor of parsing. Where only
one child of an element is read, `child()` finds it without building the groups.

Values leave the readers trimmed (`trimmed`, `collapsed`): FHIR has no empty strings
and no strings made only of whitespace, so a value that is blank once trimmed is no
value at all (None). Blank means every character Python counts as whitespace (the
no-break spaces U+00A0, U+2007, U+202F included) and the invisible characters editors
leave behind (zero-width spaces and joiners, the byte order mark U+FEFF).
"""

from __future__ import annotations

from lxml import etree

from bridge.cda.parsing import V3

__all__ = [
    "BLANK",
    "LAB_NS",
    "NONE",
    "SDTC_NS",
    "Kids",
    "NarrativeIndex",
    "child",
    "collapsed",
    "kids",
    "local_name",
    "one",
    "plain_text",
    "trimmed",
    "xsi_type",
]

XSI_TYPE_ATTR = "{http://www.w3.org/2001/XMLSchema-instance}type"
LAB_NS = "{urn:oid:1.3.6.1.4.1.19376.1.3.2}"  # IHE PaLM extension namespace (lab:statusCode)
SDTC_NS = "{urn:hl7-org:sdtc}"

_V3_PREFIX = f"{{{V3}}}"

Kids = dict[str, list[etree._Element]]
NONE: list[etree._Element] = []  # shared empty result; never mutated

# What Python's str.isspace() accepts, then the invisible format characters. An ASCII
# value is trimmed by the plain str.strip() (the same characters, at a third of the cost
# of stripping a set): the readers trim tens of thousands of values per second.
BLANK = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
    "\u180e\u200b\u200c\u200d\u2060\ufeff"
)


def trimmed(value: str | None) -> str | None:
    r"""An attribute value without blank characters around it; None when nothing is left.

    >>> trimmed(" 5.30\u00a0"), trimmed("\u200b \u202f\ufeff"), trimmed(None)
    ('5.30', None, None)
    """
    if not value:
        return None
    return (value.strip() if value.isascii() else value.strip(BLANK)) or None


def collapsed(raw: str | None) -> str | None:
    r"""Text (or a code) with each run of whitespace made one space; None when blank.

    FHIR codes allow no other whitespace, and text read this way reads as printed.

    >>> collapsed("  Glucose\n   à jeun "), collapsed("\u00a0\u200b"), collapsed("A  1")
    ('Glucose à jeun', None, 'A 1')
    """
    if not raw:
        return None
    text = " ".join(raw.split())
    return (text if text.isascii() else text.strip(BLANK)) or None


def kids(el: etree._Element | None) -> Kids:
    """Children of `el` grouped by local name (HL7 v3 ones by bare name, others in Clark form)."""
    found: Kids = {}
    if el is None:
        return found
    for element in el:
        tag = element.tag
        if tag.__class__ is str:  # not a comment or processing instruction
            found.setdefault(tag.removeprefix(_V3_PREFIX), []).append(element)
    return found


def child(el: etree._Element | None, name: str) -> etree._Element | None:
    """The first child of `el` called `name` (an HL7 v3 bare name, or a Clark name).

    For an element of which only one child is read (most have only that one):
    the walk stops at the match and builds no dict. A plain loop beats both
    `kids()` and lxml's `iterchildren(tag)`, whose tag matcher costs more to set
    up than a few children cost to compare.
    """
    if el is None:
        return None
    qualified = name if name[0] == "{" else _V3_PREFIX + name
    for candidate in el:
        tag = candidate.tag
        if tag == qualified or tag == name:  # as in kids(), a bare name also matches
            return candidate
    return None


def one(k: Kids, name: str) -> etree._Element | None:
    """The first child called `name` in a `kids()` result."""
    group = k.get(name)
    return group[0] if group else None


def local_name(el: etree._Element) -> str:
    return el.tag.rpartition("}")[2]


def plain_text(el: etree._Element | None) -> str | None:
    """All text below `el`, whitespace collapsed; None when empty."""
    if el is None:
        return None
    if len(el) == 0:
        raw = el.text
        if not raw:
            return None
    else:
        raw = "".join(el.itertext())
    text = " ".join(raw.split())  # collapsed(), inlined: titles, comments, narrative
    return (text if text.isascii() else text.strip(BLANK)) or None


def xsi_type(el: etree._Element) -> str | None:
    """The local HL7 type named by xsi:type, resolved as a QName through the namespace map.

    `xsi:type="c:PQ"` with `xmlns:c="urn:hl7-org:v3"` gives "PQ"; an unprefixed name
    takes the default namespace. A type in any other namespace is returned in Clark
    notation so that it never matches an HL7 type by accident.
    """
    written = el.get(XSI_TYPE_ATTR)
    if not written:
        return None
    prefix, sep, local = written.strip().rpartition(":")
    namespace = el.nsmap.get(prefix if sep else None)
    if namespace == V3:
        return local
    return f"{{{namespace or ''}}}{local}"


# Every ID attribute of the document. Selecting the attributes, not the elements
# (`//*[@ID]`), spares libxml2 a predicate test on every element; `//*/` rather
# than `//` lets it walk elements only, not text nodes. Together: five times
# fewer instructions. Each value leads back to its element with getparent().
_IDS = etree.XPath("//*/@ID", smart_strings=True)


class NarrativeIndex:
    """Finds narrative elements by their ID attribute, for originalText references.

    Built on first use, once per document. References are written "#id"; a
    reference written without "#" is accepted too.
    """

    __slots__ = ("_root", "_by_id")

    def __init__(self, root: etree._Element) -> None:
        self._root = root
        self._by_id: dict[str, etree._Element] | None = None

    def target(self, reference: str | None) -> etree._Element | None:
        """The element a reference points at; None when it points at nothing."""
        if not reference:
            return None
        if self._by_id is None:
            self._by_id = {str(value): value.getparent() for value in _IDS(self._root)}
        return self._by_id.get(reference.strip().removeprefix("#"))

    def text(self, reference: str | None) -> str | None:
        return plain_text(self.target(reference))

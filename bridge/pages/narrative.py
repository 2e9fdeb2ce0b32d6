"""A stored narrative (`DiagnosticReport.text.div`) made safe to put in a page.

The converter writes narratives that obey FHIR's rules, but anyone holding the write
scope can store any `text.div`: the pages never pass it through. It is parsed as XML
(no DTD, no entities, no network) and rebuilt from an allow-list of FHIR narrative
elements and attributes; an element outside the list gives its text only (script and
style give nothing), a link keeps only a fragment or an http(s) target, a style only
plain declarations. The page's Content-Security-Policy is the second barrier.
"""

from __future__ import annotations

import re
from html import escape

from lxml import etree
from markupsafe import Markup

from bridge.mapping.allowlist import ELEMENTS, VALUES
from bridge.mapping.xhtml import safe_href

__all__ = ["safe_narrative"]

# The elements the converter writes (bridge.mapping.allowlist), and those FHIR's txt-1
# also allows that a client may have stored; `class` is kept for the page's own styles.
_EXTRA = frozenset({"id", "lang", "title", "style", "class"})
ALLOWED: dict[str, frozenset[str]] = {
    **{tag: attributes | {"class"} for tag, attributes in ELEMENTS.items()},
    **{tag: _EXTRA for tag in "b i u em strong small hr pre dl dt dd".split()},
}
_DROPPED_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "head", "template"}
_STYLE = re.compile(r"^[a-z-]+\s*:\s*[#a-z0-9 .,%-]+$", re.IGNORECASE)
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)


def _local(tag: object) -> str:
    return etree.QName(tag).localname.lower() if isinstance(tag, str) else ""


def _safe_value(name: str, value: str) -> bool:
    if name == "href":  # a fragment of the page, or an http(s) link without credentials
        return value.startswith("#") or safe_href(value, set()) is not None
    if name == "style":
        return all(_STYLE.match(d.strip()) for d in value.split(";") if d.strip())
    pattern = VALUES.get(name)
    return len(value) < 200 and (pattern is None or pattern.fullmatch(value) is not None)


def _write(element: etree._Element, out: list[str]) -> None:
    if not isinstance(element.tag, str):  # a comment or processing instruction
        out.append(escape(element.tail or ""))
        return
    tag = _local(element.tag)
    allowed = ALLOWED.get(tag)
    if tag in _DROPPED_WITH_CONTENT:
        out.append(escape(element.tail or ""))
        return
    if allowed is not None:
        attributes = "".join(
            f' {name}="{escape(value)}"'
            for name, value in ((_local(k), v) for k, v in element.attrib.items())
            if name in allowed and _safe_value(name, value)
        )
        out.append(f"<{tag}{attributes}>")
    out.append(escape(element.text or ""))
    for child in element:
        _write(child, out)
    if allowed is not None and tag not in ("br", "hr", "col"):
        out.append(f"</{tag}>")
    out.append(escape(element.tail or ""))


def safe_narrative(div: object) -> Markup | None:
    """The narrative as markup safe to insert, or None when there is none to show."""
    if not isinstance(div, str) or not div.strip():
        return None
    try:
        root = etree.fromstring(div.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError:
        return Markup(f"<pre>{escape(div)}</pre>")
    out: list[str] = []
    _write(root, out)
    return Markup("".join(out))

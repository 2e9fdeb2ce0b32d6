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
from urllib.parse import urlsplit

from lxml import etree
from markupsafe import Markup

__all__ = ["safe_narrative"]

_CORE = frozenset({"id", "lang", "title", "style", "class"})
_CELL = _CORE | {"colspan", "rowspan", "align", "valign", "scope", "abbr"}
ALLOWED: dict[str, frozenset[str]] = {
    **{tag: _CORE for tag in "div p span b i u em strong small sub sup br hr pre".split()},
    **{tag: _CORE for tag in "h1 h2 h3 h4 h5 h6 ul ol li dl dt dd caption".split()},
    **{
        tag: _CORE | {"align", "valign", "span"}
        for tag in "thead tbody tfoot tr col colgroup".split()
    },
    "table": _CORE | {"border", "cellpadding", "cellspacing", "summary", "width"},
    "th": _CELL,
    "td": _CELL,
    "a": _CORE | {"href", "name"},
}
_DROPPED_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "head", "template"}
_STYLE = re.compile(r"^[a-z-]+\s*:\s*[#a-z0-9 .,%-]+$", re.IGNORECASE)
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)


def _local(tag: object) -> str:
    return etree.QName(tag).localname.lower() if isinstance(tag, str) else ""


def _safe_value(name: str, value: str) -> bool:
    if name == "href":
        parts = urlsplit(value.strip())
        return value.startswith("#") or (parts.scheme in ("http", "https") and not parts.username)
    if name == "style":
        return all(_STYLE.match(d.strip()) for d in value.split(";") if d.strip())
    return len(value) < 200


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

"""A writer of FHIR narrative XHTML that cannot produce anything else.

It writes only the elements and attributes of the allow-list (`bridge.mapping.allowlist`):
an attribute whose value does not fit is dropped, an element outside the list is refused
(a programming error: every element it is asked for comes from the converter's tables).
Text and attribute values are escaped (`&`, `<`, `>`, and `"` in attributes) as the
string is built: no markup from the document ever reaches the output as markup.

Decisions where FHIR leaves a choice (README, "Mapping decisions"):
- no `<img>`: a CDA image refers to an observationMedia outside the narrative, and an
  `img src` outside the resource is an external reference: a text placeholder is written;
- `<a href>` only to a fragment of this narrative ("#id") or to an absolute http(s) URL
  without credentials (`safe_href`): never `javascript:`, `data:`, `file:` or a relative
  path;
- styles come from the converter's own table, never from the document, so no `url(`,
  `expression(` or `@import` can appear.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bridge.mapping.allowlist import ELEMENTS, VALUES

__all__ = ["XHTML_NS", "Fragment", "XhtmlWriter", "safe_href"]

XHTML_NS = "http://www.w3.org/1999/xhtml"

_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
    | {"\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}  # kept as written, not normalised to spaces
)


def _escape_attribute(value: str) -> str:
    return value.translate(_ATTRIBUTE_ESCAPES)


_URL_CHARACTERS = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")


def safe_href(href: str | None, fragments: frozenset[str] | set[str]) -> str | None:
    """`href` when FHIR narrative may link to it: "#id" of a known id, or http(s) URL.

    >>> safe_href("https://www.ansm.sante.fr/notice", set())
    'https://www.ansm.sante.fr/notice'
    >>> safe_href("javascript:alert(1)", set()) is None, safe_href("#n1", {"n1"})
    (True, '#n1')
    """
    if not href:
        return None
    href = href.strip()
    if href.startswith("#"):
        return href if href[1:] in fragments else None
    if len(href) > 2000 or not _URL_CHARACTERS.fullmatch(href):
        return None
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return href


_END_TAGS = {tag: f"</{tag}>" for tag in ELEMENTS}


class Fragment:
    """XHTML a writer built and set aside (`XhtmlWriter.resume`): the only markup it takes
    back as is."""

    __slots__ = ("markup",)

    def __init__(self, markup: str) -> None:
        self.markup = markup


class XhtmlWriter:
    """Builds one `<div xmlns="http://www.w3.org/1999/xhtml">` as a string.

    A string builder with escaping rather than an lxml tree: an element costs an append
    or two instead of a proxy object, and the result is serialised once.
    """

    __slots__ = ("_parts", "_ids", "_written")

    def __init__(self, lang: str | None = None) -> None:
        self._ids: set[str] = set()
        self._written: dict[tuple[str, tuple[tuple[str, str | None], ...], str], str] = {}
        attributes = self._attributes("div", (("lang", lang),))
        self._parts: list[str] = [f'<div xmlns="{XHTML_NS}"{attributes}>']

    def _tag(self, tag: str, attributes: tuple[tuple[str, str | None], ...], close: str) -> str:
        """`<tag …>` (or `<tag …/>`): the same tag with the same attributes is checked and
        escaped once (tables repeat `<td align="left">` row after row)."""
        key = (tag, attributes, close)
        written = self._written.get(key)
        if written is None:
            written = f"<{tag}{self._attributes(tag, attributes)}{close}"
            if not any(name == "id" for name, _ in attributes):  # an id is written once
                self._written[key] = written
        return written

    def _attributes(self, tag: str, attributes: tuple[tuple[str, str | None], ...]) -> str:
        allowed = ELEMENTS.get(tag)
        if allowed is None:
            raise ValueError(f"<{tag}> is not allowed in FHIR narrative")
        written = []
        for name, value in attributes:
            if value is None or name not in allowed:
                continue
            pattern = VALUES.get(name)
            if pattern is not None and not pattern.fullmatch(value):
                continue
            if name == "id":
                if value in self._ids:
                    continue  # ids are unique in a resource: the first keeps it
                self._ids.add(value)
            written.append(f' {name}="{_escape_attribute(value)}"')
        return "".join(written)

    def start(self, tag: str, attributes: tuple[tuple[str, str | None], ...] = ()) -> None:
        written = self._written.get((tag, attributes, ">"))  # _tag's look-up, without a call
        self._parts.append(written or self._tag(tag, attributes, ">"))

    def end(self, tag: str) -> None:
        self._parts.append(_END_TAGS.get(tag) or f"</{tag}>")

    def empty(self, tag: str, attributes: tuple[tuple[str, str | None], ...] = ()) -> None:
        self._parts.append(self._tag(tag, attributes, "/>"))

    def text(self, text: str) -> None:
        """Text, `&`, `<` and `>` escaped (tested first: most texts have none).

        >>> writer = XhtmlWriter()
        >>> writer.text("<script>&amp;")
        >>> writer.result()
        '<div xmlns="http://www.w3.org/1999/xhtml">&lt;script&gt;&amp;amp;</div>'
        """
        if text:
            if "&" in text:
                text = text.replace("&", "&amp;")
            if "<" in text:
                text = text.replace("<", "&lt;")
            if ">" in text:
                text = text.replace(">", "&gt;")
            self._parts.append(text)

    def element(
        self, tag: str, text: str, attributes: tuple[tuple[str, str | None], ...] = ()
    ) -> None:
        """An element holding only text."""
        self.start(tag, attributes)
        self.text(text)
        self.end(tag)

    def divert(self) -> list[str]:
        """Write into a fresh buffer from now on (a footnote's body, shown later); returns
        the buffer written so far, for `resume`."""
        saved, self._parts = self._parts, []
        return saved

    def resume(self, saved: list[str]) -> Fragment:
        """Back to the buffer `divert` returned; gives what was written meanwhile."""
        written, self._parts = Fragment("".join(self._parts)), saved
        return written

    def insert(self, fragment: Fragment) -> None:
        """A fragment this writer built earlier (from `resume`): already escaped and checked."""
        if not isinstance(fragment, Fragment):
            raise TypeError("only a Fragment this writer built can be inserted")
        self._parts.append(fragment.markup)

    def result(self) -> str:
        return "".join(self._parts) + "</div>"

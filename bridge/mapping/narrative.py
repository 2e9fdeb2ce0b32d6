"""CDA narrative blocks → FHIR narrative XHTML, through an allow-list written as data.

source: section/text (CDA R2 NarrativeBlock.xsd, StrucDoc.Text) as read by
        `bridge.cda.reading.narrative`
target: XHTML for DiagnosticReport.text (the writer of `bridge.mapping.xhtml`)

The allow-list (`CDA_ELEMENTS` of `bridge.mapping.allowlist`) is applied element by
element: each CDA narrative element becomes its XHTML element with the attributes the
list carries over. Everything else is not markup FHIR may show: an unknown element, one
from another namespace, an attribute outside the list (onclick…) is dropped and its
text kept (a script's or a style sheet's text is code: dropped too), and the caller is
told what was dropped. `list`, `linkHtml`, `footnote`,
`footnoteRef` and `renderMultiMedia` need more than a renaming and have their own
function.

Tables and lists keep their HTML structure whatever the document does: text or an
element astray inside a table, a row or a list is wrapped in a row, a cell or an item;
a cell, row or item outside its container gives its content only. A paragraph holding
a table or a list becomes a `div` (XHTML's `p` cannot hold them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from bridge.cda.model import Narrative, NarrativeElement
from bridge.cda.reading.narrative import NARRATIVE_MAX_DEPTH
from bridge.mapping.allowlist import CDA_ELEMENTS, STYLES, Rule
from bridge.mapping.xhtml import Fragment, XhtmlWriter, safe_href

__all__ = ["MAX_DEPTH", "NarrativeContext", "number_footnotes", "write_narrative"]

# The walker's own bound: the reader keeps trees within NARRATIVE_MAX_DEPTH; a tree built
# otherwise is cut here the same way (deeper content written as text).
MAX_DEPTH = NARRATIVE_MAX_DEPTH + 8

_DELETED = "text-decoration: line-through"  # content revised="delete": shown struck through
_PLACEHOLDER = "font-style: italic"
_CAPTION = "font-weight: bold"
FOOTNOTE_ID = "crbio-fn-{}"  # never an id a document's link may take: see link_targets

_ROW_GROUPS = frozenset({"thead", "tbody", "tfoot"})
_TABLE_HEAD = frozenset({"caption", "colgroup", "col"})
_BLOCKS = frozenset({"table", "list", "paragraph"})
# elements whose children are not written as markup (a media caption is read as text)
_WITHOUT_CONTENT = frozenset({"br", "col", "colgroup", "footnoteRef", "renderMultiMedia"})
_SPACES = re.compile(r"[ \t\r\n]+")  # XML white space only: a no-break space stays
# elements (of any namespace) whose text is code, never shown: dropped with their content
_CODE_ONLY = frozenset({"script", "style"})


@dataclass(slots=True)
class NarrativeContext:
    """What converting the narrative blocks of one document shares."""

    narratives: list[Narrative] = field(default_factory=list)  # every block of the document
    # observationMedia ID → media type, listed at the first renderMultiMedia
    media_types: Callable[[], Mapping[str, str | None]] = dict
    footnote_numbers: dict[str, int] = field(default_factory=dict)  # footnote ID → number
    footnotes: list[tuple[int, Fragment]] = field(default_factory=list)  # bodies to write
    footnote_count: int = 0
    dropped: set[str] = field(default_factory=set)  # what was not shown as markup
    _link_targets: frozenset[str] | None = None
    _media: Mapping[str, str | None] | None = None

    def media(self) -> Mapping[str, str | None]:
        if self._media is None:
            self._media = self.media_types()
        return self._media

    def link_targets(self) -> frozenset[str]:
        """The IDs a link may point at (valid XHTML ids, never one this module writes):
        worked out at the first internal link, which most documents do not have."""
        if self._link_targets is None:
            self._link_targets = frozenset(
                i
                for n in self.narratives
                for i in n.ids
                if _ID.fullmatch(i) and not i.startswith(_RESERVED)
            )
        return self._link_targets


_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_RESERVED = "crbio-"  # the prefix of the ids this module writes (FOOTNOTE_ID)


def number_footnotes(context: NarrativeContext) -> None:
    """Number the footnotes with an ID before writing, so that a footnoteRef may point at a
    footnote written after it. Walks as `write_narrative` does, in the same order."""
    count = 0
    for narrative in context.narratives:
        for el in _elements(narrative.content, 1):
            if el.name == "footnote":
                count += 1
                ident = el.attributes.get("ID")
                if ident and ident not in context.footnote_numbers:
                    context.footnote_numbers[ident] = count


def _elements(children: list[NarrativeElement | str], depth: int) -> Iterator[NarrativeElement]:
    """The elements `write_narrative` descends into, in document order."""
    stack = [(iter(children), depth)]
    while stack:
        items, level = stack[-1]
        item = next(items, None)
        if item is None:
            stack.pop()
            continue
        if isinstance(item, str) or item.name not in CDA_ELEMENTS or level > MAX_DEPTH:
            continue
        yield item
        if item.name not in _WITHOUT_CONTENT:
            stack.append((iter(item.children), level + 1))


def write_narrative(writer: XhtmlWriter, narrative: Narrative, context: NarrativeContext) -> None:
    """Write one narrative block, then the bodies of its footnotes."""
    _Converter(writer, context).flow(narrative.content, 1)
    for number, body in context.footnotes:
        writer.start("p", (("id", FOOTNOTE_ID.format(number)), ("style", "font-size: smaller")))
        writer.element("sup", str(number))
        writer.text(" ")
        writer.insert(body)
        writer.end("p")
    context.footnotes.clear()


class _Converter:
    __slots__ = ("w", "context")

    def __init__(self, writer: XhtmlWriter, context: NarrativeContext) -> None:
        self.w = writer
        self.context = context

    # Text and attributes ---------------------------------------------------

    def text(self, text: str) -> None:
        if "\n" in text or "  " in text or "\t" in text or "\r" in text:
            text = _SPACES.sub(" ", text)
        self.w.text(text)

    def flat(self, el: NarrativeElement | str) -> None:
        """An element's text only (markup not shown, or nested too deep)."""
        if isinstance(el, str):
            self.text(el)
            return
        for node in _texts(el):
            self.text(node)

    def attributes(self, el: NarrativeElement, rule: Rule, extra: str = "") -> tuple:
        """The attributes `rule` carries over, styleCode as CSS (plus `extra` CSS)."""
        if not el.attributes and not extra:
            return ()
        written, dropped = _carried(el, rule, extra)
        if dropped:
            self.context.dropped.update(dropped)
        return written

    # Content models --------------------------------------------------------

    def flow(self, children: list[NarrativeElement | str], depth: int, link: bool = False) -> None:
        text = self.w.text
        for child in children:
            if child.__class__ is str:  # self.text, inlined: most children are text
                if "\n" in child or "  " in child or "\t" in child or "\r" in child:
                    child = _SPACES.sub(" ", child)
                text(child)
            else:
                self.element(child, depth, link)  # type: ignore[arg-type]

    def element(self, el: NarrativeElement, depth: int, link: bool) -> None:
        rule = CDA_ELEMENTS.get(el.name)
        if rule is None or depth > MAX_DEPTH:
            if rule is None:
                self.context.dropped.add(f"<{_local(el.name)}>")
                if _is_code(el):
                    return  # a program or a style sheet, not words for the reader
            self.flat(el)
            return
        name = el.name
        if name == "content" or name == "sub" or name == "sup":  # the most frequent first
            extra = _DELETED if el.attributes.get("revised") == "delete" else ""
            self.wrapped(rule.tag, el, rule, depth, link, extra)
        elif name == "br":
            self.w.empty("br")
        elif name == "paragraph":
            tag = "div" if any(_is_block(c) for c in el.children) else "p"
            self.wrapped(tag, el, rule, depth, link)
        elif name == "table":
            self.table(el, rule, depth)
        elif name == "list":
            self.list(el, rule, depth, link)
        elif name == "linkHtml":
            self.link(el, rule, depth, link)
        elif name == "footnote":
            self.footnote(el, depth)
        elif name == "footnoteRef":
            self.footnote_ref(el)
        elif name == "renderMultiMedia":
            self.multimedia(el)
        elif name == "caption":  # a paragraph's (or one astray): a bold lead-in
            self.w.start("span", (("style", _CAPTION),))
            self.flow(el.children, depth + 1, link)
            self.w.end("span")
            self.w.text(" ")
        else:  # row, cell, item… outside their container: their content only
            self.flow(el.children, depth + 1, link)
            if name in ("tr", "th", "td", "item"):
                self.text(" ")

    def wrapped(
        self, tag: str, el: NarrativeElement, rule: Rule, depth: int, link: bool, extra: str = ""
    ) -> None:
        self.w.start(tag, self.attributes(el, rule, extra))
        self.flow(el.children, depth + 1, link)
        self.w.end(tag)

    def table(self, el: NarrativeElement, rule: Rule, depth: int) -> None:
        """A table; rows written outside thead/tbody/tfoot (and anything astray) go into a
        tbody of their own, as XHTML wants."""
        self.w.start("table", self.attributes(el, rule))
        loose: list[NarrativeElement | str] = []
        first = True
        for child in el.children:
            name = child.name if isinstance(child, NarrativeElement) else None
            late_caption = name == "caption" and not first  # a caption must come first
            if name in _ROW_GROUPS or (name in _TABLE_HEAD and not late_caption):
                self.loose_rows(loose, depth)
                if name == "caption":
                    self.wrapped("caption", child, CDA_ELEMENTS["caption"], depth + 1, False)
                elif name == "colgroup":
                    self.columns(child)
                elif name == "col":
                    self.w.empty("col", self.attributes(child, CDA_ELEMENTS["col"]))
                else:
                    self.w.start(name, self.attributes(child, CDA_ELEMENTS[name]))
                    self.rows(child.children, depth + 1)
                    self.w.end(name)
            else:  # a row, a caption after the first place, text or anything else
                loose.append(child)
            first = first and name is None
        self.loose_rows(loose, depth)
        self.w.end("table")

    def loose_rows(self, loose: list[NarrativeElement | str], depth: int) -> None:
        if any(isinstance(c, NarrativeElement) or c.strip() for c in loose):
            self.w.start("tbody")
            self.rows(loose, depth)
            self.w.end("tbody")
        loose.clear()

    def columns(self, el: NarrativeElement) -> None:
        self.w.start("colgroup", self.attributes(el, CDA_ELEMENTS["colgroup"]))
        for child in el.children:
            if isinstance(child, NarrativeElement) and child.name == "col":
                self.w.empty("col", self.attributes(child, CDA_ELEMENTS["col"]))
        self.w.end("colgroup")

    def rows(self, children: list[NarrativeElement | str], depth: int) -> None:
        for child in children:
            if isinstance(child, NarrativeElement) and child.name == "tr":
                self.w.start("tr", self.attributes(child, CDA_ELEMENTS["tr"]))
                self.cells(child.children, depth + 1)
                self.w.end("tr")
            elif isinstance(child, NarrativeElement) or child.strip():
                self.stray(child, depth)

    def stray(self, child: NarrativeElement | str, depth: int) -> None:
        """Something a table holds outside any row: a row and a cell of its own."""
        self.w.start("tr")
        self.w.start("td")
        self.flow([child], depth + 1)
        self.w.end("td")
        self.w.end("tr")

    def cells(self, children: list[NarrativeElement | str], depth: int) -> None:
        for child in children:
            if isinstance(child, NarrativeElement) and child.name in ("th", "td"):
                self.wrapped(child.name, child, CDA_ELEMENTS[child.name], depth + 1, False)
            elif isinstance(child, NarrativeElement) or child.strip():
                self.w.start("td")
                self.flow([child], depth + 1)
                self.w.end("td")

    def list(self, el: NarrativeElement, rule: Rule, depth: int, link: bool) -> None:
        tag = "ol" if el.attributes.get("listType", "").strip() == "ordered" else "ul"
        items = el.children
        for child in items:
            if isinstance(child, NarrativeElement) and child.name == "caption":
                self.w.start("p", (("style", _CAPTION),))
                self.flow(child.children, depth + 2, link)
                self.w.end("p")
        self.w.start(tag, self.attributes(el, rule))
        for child in items:
            if isinstance(child, NarrativeElement):
                if child.name == "caption":
                    continue
                if child.name == "item":
                    self.wrapped("li", child, CDA_ELEMENTS["item"], depth + 1, link)
                    continue
            elif not child.strip():
                continue
            self.w.start("li")
            self.flow([child], depth + 1, link)
            self.w.end("li")
        self.w.end(tag)

    # Elements with a meaning of their own ----------------------------------

    def link(self, el: NarrativeElement, rule: Rule, depth: int, link: bool) -> None:
        written = el.attributes.get("href")
        internal = bool(written) and written.strip().startswith("#")
        targets = self.context.link_targets() if internal else frozenset()
        href = None if link else safe_href(written, targets)
        if href is None:
            if el.attributes.get("href") and not link:
                self.context.dropped.add("linkHtml/@href")
            self.flow(el.children, depth + 1, link)
            return
        title = el.attributes.get("title")
        self.w.start("a", (("href", href), ("title", title), *self.attributes(el, rule)))
        self.flow(el.children, depth + 1, True)
        self.w.end("a")

    def footnote(self, el: NarrativeElement, depth: int) -> None:
        context = self.context
        context.footnote_count += 1
        number = context.footnote_count
        self.w.start("sup")
        self.w.element("a", str(number), (("href", "#" + FOOTNOTE_ID.format(number)),))
        self.w.end("sup")
        saved = self.w.divert()
        self.flow(el.children, depth + 1)
        context.footnotes.append((number, self.w.resume(saved)))

    def footnote_ref(self, el: NarrativeElement) -> None:
        number = self.context.footnote_numbers.get(el.attributes.get("IDREF", "").strip())
        if number is not None:
            self.w.start("sup")
            self.w.element("a", str(number), (("href", "#" + FOOTNOTE_ID.format(number)),))
            self.w.end("sup")

    def multimedia(self, el: NarrativeElement) -> None:
        """A text in place of an image or document: nothing outside the resource is loaded."""
        caption = " ".join(
            text
            for child in el.children
            if isinstance(child, NarrativeElement) and child.name == "caption"
            for text in [" ".join("".join(_texts(child)).split())]
            if text
        )
        for ref in el.attributes.get("referencedObject", "").split() or [""]:
            media_type = self.context.media().get(ref)
            if media_type == "application/pdf":
                label = "document PDF joint au compte rendu"
            elif media_type and media_type.startswith("image/"):
                label = "image jointe au compte rendu"
            else:
                label = "contenu multimédia non affiché"
            shown = f"[{caption} : {label}]" if caption else f"[{label[0].upper()}{label[1:]}]"
            self.w.element("span", shown, (("style", _PLACEHOLDER),))


def _carried(el: NarrativeElement, rule: Rule, extra: str) -> tuple[tuple, tuple[str, ...]]:
    """The XHTML attributes of `el` under `rule`, and the names of those it drops."""
    written: list[tuple[str, str | None]] = []
    dropped: list[str] = []
    styles = [extra] if extra else []
    for name, value in el.attributes.items():
        target = rule.attributes.get(name)
        if target == "style":
            styles += _styles(value)
        elif target is not None:
            written.append((target, value.strip()))
        elif name not in rule.known:
            dropped.append(f"@{_local(name)}")
    if styles:
        written.append(("style", "; ".join(dict.fromkeys(styles))))
    return tuple(written), tuple(dropped)


def _texts(el: NarrativeElement) -> Iterator[str]:
    """Every text below `el`, in order, without recursion (a flattened tree may be deep)."""
    stack: list[Iterator[NarrativeElement | str]] = [iter(el.children)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif isinstance(item, str):
            yield item
        elif not _is_code(item):
            stack.append(iter(item.children))


def _is_code(el: NarrativeElement) -> bool:
    """A script or a style sheet (any namespace): its text is code, never shown."""
    return el.name not in CDA_ELEMENTS and _local(el.name).lower() in _CODE_ONLY


def _is_block(child: NarrativeElement | str) -> bool:
    return not isinstance(child, str) and child.name in _BLOCKS


def _styles(style_code: str) -> list[str]:
    return [css for token in style_code.split() if (css := STYLES.get(token.lower()))]


def _local(name: str) -> str:
    """A name as a person reads it in a message: prefix-free, namespace in braces dropped."""
    return name.rpartition("}")[2][:40]

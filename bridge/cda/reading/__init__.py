"""From bytes to a typed `CdaDocument`: every element walk of the project lives here."""

from __future__ import annotations

from bridge.cda.model import CdaDocument
from bridge.cda.parsing import DEFAULT_MAX_BYTES, find_clinical_document, parse_xml
from bridge.cda.reading.body import BodyReader
from bridge.cda.reading.header import read_header, recognise_kind
from bridge.cda.reading.values import read_ed
from bridge.cda.reading.xml import NarrativeIndex, kids, one

__all__ = ["read_document"]


def read_document(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CdaDocument:
    """Parse and read a CR-BIO or BIO-TROD document.

    Raises:
        DocumentError: when the document is refused as a whole (see `bridge.errors`).
    """
    root = parse_xml(data, max_bytes=max_bytes)
    cd = find_clinical_document(root)
    k = kids(cd)
    kind = recognise_kind(k, auto_presentable=cd is not root)
    narrative = NarrativeIndex(cd)
    header = read_header(k, kind, narrative)
    body = kids(one(k, "component"))
    structured = one(body, "structuredBody")
    sections = BodyReader(narrative).sections(structured) if structured is not None else ()
    non_xml = one(kids(one(body, "nonXMLBody")), "text")
    return CdaDocument(
        header=header,
        sections=sections,
        non_xml_body=read_ed(non_xml, narrative) if non_xml is not None else None,
        source=data,
        node=cd,
    )

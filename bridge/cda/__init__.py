"""CDA layer: safe parsing and a typed reading of CR-BIO / BIO-TROD documents."""

from __future__ import annotations

from bridge.cda.locations import xpath_of as xpath_of
from bridge.cda.model import CdaDocument as CdaDocument
from bridge.cda.model import DocumentKind as DocumentKind
from bridge.cda.parsing import DEFAULT_MAX_BYTES as DEFAULT_MAX_BYTES
from bridge.cda.reading import read_document as read_document

__all__ = ["CdaDocument", "DEFAULT_MAX_BYTES", "DocumentKind", "read_document", "xpath_of"]

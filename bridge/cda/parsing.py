"""Safe parsing of CDA bytes.

The parser never resolves entities, never loads a DTD and never touches the
network or the file system; any DOCTYPE is refused outright. The size cap comes
first so that nothing unbounded is parsed. `huge_tree` is on because a PDF copy
of a report easily exceeds libxml2's 10 MB text-node limit; the size cap and the
DOCTYPE refusal are what keep parsing bounded. libxml2 refuses elements nested more
than 2,048 deep whatever the options: that refusal is a `TooDeepError`, like the
readers' own depth bound (`bridge.cda.limits`), not a syntax error.

libxml2 interns every element and attribute name (and short texts) it meets in a
dictionary of the parsing thread, which lxml keeps for the thread's life and offers no
option to avoid: a server parsing documents that invent 10,000 names each would grow
for good (39 → 128 MB over 200 such documents). Documents are therefore parsed in
worker threads that retire once they have parsed `RECYCLE_BYTES` between them; a
retired thread's dictionary is freed with the last tree parsed there. A dictionary
holds the names of at most a few megabytes of input, and a thread is started every
few megabytes (a fraction of a percent of the time parsing them takes).
"""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from lxml import etree

from bridge.errors import (
    DocumentTooLargeError,
    MalformedXmlError,
    NotCdaError,
    TooDeepError,
    UnsafeXmlError,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "RECYCLE_BYTES",
    "V3",
    "declares_doctype",
    "find_clinical_document",
    "parse_xml",
]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
RECYCLE_BYTES = 8 * 1024 * 1024  # parsed by one generation of parsing threads
V3 = "urn:hl7-org:v3"
_CLINICAL_DOCUMENT = f"{{{V3}}}ClinicalDocument"
_LOCATION_SUFFIX = re.compile(r", line \d+, column \d+$")
# libxml2 names a second line inside some messages (where an unclosed tag opened): the
# error is given one position only, the one of `MalformedXmlError`.
_TAG_MISMATCH = re.compile(r"Opening and ending tag mismatch: (\S+) line \d+ and (\S+)$")
_UNCLOSED_AT_END = re.compile(r"Premature end of data in tag (\S+) line \d+$")
_EMBEDDED_LINE = re.compile(r" line \d+")
_EXCESSIVE_DEPTH = re.compile(r"Excessive depth in document: (\d+)")

# lxml parsers keep per-parse state: one per thread.
_local = threading.local()


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=True,
            remove_comments=True,
            remove_pis=True,
        )
        _local.parser = parser
    return parser


def _parse_here(data: bytes) -> etree._Element:
    return etree.fromstring(data, _parser())


class ParsingThreads:
    """Threads that parse documents, replaced by new ones every `budget` bytes parsed.

    A generation is a thread pool; the next parse after its budget is spent goes to a
    new pool while the old one's threads finish what they hold and exit. Work is handed
    out under the lock, so no parse is ever sent to a pool already shut down. A child
    process (forked by `crbio convert`'s workers, Spark) starts a generation of its own.
    """

    def __init__(self, budget: int, threads: int) -> None:
        self.budget = budget
        self.threads = threads
        self.generation = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._parsed = 0

    def parse(self, data: bytes) -> etree._Element:
        return self._submit(data).result()

    def _submit(self, data: bytes) -> Future[etree._Element]:
        with self._lock:
            pool = self._pool
            if pool is None or self._pid != os.getpid() or self._parsed >= self.budget:
                if pool is not None and self._pid == os.getpid():
                    pool.shutdown(wait=False)
                pool = self._pool = ThreadPoolExecutor(self.threads, "crbio-xml")
                self._pid, self._parsed = os.getpid(), 0
                self.generation += 1
            self._parsed += len(data)
            return pool.submit(_parse_here, data)


PARSING = ParsingThreads(RECYCLE_BYTES, threads=min(os.cpu_count() or 1, 4))


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse bytes into an lxml root element, refusing anything unsafe.

    The declared encoding (UTF-8, ISO-8859-1, UTF-16 with its BOM…) is honoured.

    Raises:
        DocumentTooLargeError: more than `max_bytes` bytes.
        MalformedXmlError: not well-formed; the error carries line and column.
        UnsafeXmlError: a DOCTYPE is declared.
        TooDeepError: elements nested beyond libxml2's limit (2,048 levels).
    """
    if len(data) > max_bytes:
        raise DocumentTooLargeError(len(data), max_bytes)
    if declares_doctype(data):
        raise UnsafeXmlError(_DOCTYPE_REFUSED)
    try:
        root = PARSING.parse(data)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        too_deep = _EXCESSIVE_DEPTH.match(exc.msg or "")
        if too_deep:
            raise TooDeepError(
                f"elements nest deeper than the XML parser accepts ({too_deep[1]} levels), "
                f"at line {line}, column {column}"
            ) from exc
        raise MalformedXmlError(_message(exc.msg), line, column) from exc
    if root.getroottree().docinfo.doctype:  # an encoding the prolog scan cannot read
        raise UnsafeXmlError(_DOCTYPE_REFUSED)
    return root


def _message(libxml2: str | None) -> str:
    """libxml2's message without the positions it embeds, which differ from the error's.

    >>> _message("Opening and ending tag mismatch: b line 3 and a, line 4, column 5")
    'end tag </a> does not close <b>'
    >>> _message("Premature end of data in tag c line 3, line 4, column 1")
    'the document ends before <c> is closed'
    >>> _message("Couldn't find end of Start Tag b line 2")
    "Couldn't find end of Start Tag b"
    """
    message = _LOCATION_SUFFIX.sub("", libxml2 or "syntax error")
    if found := _TAG_MISMATCH.match(message):
        return f"end tag </{found[2]}> does not close <{found[1]}>"
    if found := _UNCLOSED_AT_END.match(message):
        return f"the document ends before <{found[1]}> is closed"
    return _EMBEDDED_LINE.sub("", message)


_DOCTYPE_REFUSED = (
    "the document declares a DOCTYPE; DTDs and entities are refused "
    "(they allow entity expansion and external reads)"
)
# How a UTF-16 document starts: with a byte order mark, or "<?" in either byte order
_UTF16 = {
    b"\xff\xfe": "utf-16",
    b"\xfe\xff": "utf-16",
    b"<\x00": "utf-16-le",
    b"\x00<": "utf-16-be",
}


def declares_doctype(data: bytes) -> bool:
    """True when a DOCTYPE comes before the first element, past comments and PIs.

    Checked on the raw bytes before libxml2 sees the document, so that entity
    declarations are never parsed at all (libxml2 would otherwise report an entity
    bomb as a well-formedness error rather than an unsafe document).

    >>> declares_doctype(b'<?xml version="1.0"?><!-- c --><!DOCTYPE x [<!ENTITY a "b">]><x/>')
    True
    >>> declares_doctype(b'<?xml version="1.0"?><!-- <!DOCTYPE x> --><x/>')
    False
    """
    codec = _UTF16.get(data[:2])
    if codec is not None:
        data = data.decode(codec, errors="replace").encode("utf-8")
    position = 0
    while True:
        start = data.find(b"<", position)
        if start < 0:
            return False
        if data.startswith(b"<!--", start):
            end, skip = data.find(b"-->", start + 4), 3
        elif data.startswith(b"<?", start):
            end, skip = data.find(b"?>", start + 2), 2
        else:
            return data.startswith(b"<!DOCTYPE", start)
        if end < 0:
            return False
        position = end + skip


def find_clinical_document(root: etree._Element) -> etree._Element:
    """The HL7 v3 ClinicalDocument: the root itself, or one nested inside it.

    "Auto-presentable" 2021 files wrap the ClinicalDocument in an
    `xsl:stylesheet`; the document is found wherever it is nested.
    """
    if root.tag == _CLINICAL_DOCUMENT:
        return root
    nested = next(root.iter(_CLINICAL_DOCUMENT), None)
    if nested is not None:
        return nested
    found = etree.QName(root).localname if isinstance(root.tag, str) else str(root.tag)
    namespace = etree.QName(root).namespace if isinstance(root.tag, str) else None
    if found == "ClinicalDocument":
        raise NotCdaError(
            f"ClinicalDocument is in namespace {namespace or '(none)'}, not {V3}: not HL7 CDA R2"
        )
    where = f" in namespace {namespace}" if namespace else ""
    raise NotCdaError(f"root element <{found}>{where} is not an HL7 CDA R2 ClinicalDocument")

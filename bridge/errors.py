"""The exceptions crbio-bridge raises.

Bad data inside an accepted document never raises: it becomes a collected
`bridge.mapping.Issue`. Exceptions are for whole inputs that are refused.

    BridgeError
    ├── DocumentError (ValueError)            the input is refused, nothing is produced
    │   ├── DocumentTooLargeError             more bytes than the configured limit
    │   ├── UnsafeXmlError                    a DOCTYPE (entities, XXE) is present
    │   ├── MalformedXmlError                 not well-formed XML (line and column given)
    │   ├── NotCdaError                       well-formed, but no HL7 v3 ClinicalDocument
    │   ├── UnsupportedDocumentError          a CDA document that is not CR-BIO or BIO-TROD
    │   └── TooDeepError                      sections, entries or translations nested too deep
    └── TerminologyError
        ├── JdvFormatError (ValueError)       a JDV spreadsheet without the expected columns
        ├── TerminologyUnavailable            the SMT cannot answer and nothing is cached
        ├── ConceptMapNotFound (LookupError)  an unknown ConceptMap url or version
        └── ConversionRefused (ValueError)    unknown unit, other dimension, or no factor

Each class has a stable kebab-case `code`, used in OperationOutcome issues and CLI output.
"""

from __future__ import annotations

__all__ = [
    "BridgeError",
    "ConceptMapNotFound",
    "ConversionRefused",
    "DocumentError",
    "DocumentTooLargeError",
    "JdvFormatError",
    "MalformedXmlError",
    "NotCdaError",
    "TerminologyError",
    "TerminologyUnavailable",
    "TooDeepError",
    "UnsafeXmlError",
    "UnsupportedDocumentError",
    "rejection",
]


class BridgeError(Exception):
    """Root of every exception raised on purpose by crbio-bridge."""

    code = "bridge-error"


class DocumentError(BridgeError, ValueError):
    """The document is refused as a whole; nothing of it is converted or stored."""

    code = "document-refused"


class DocumentTooLargeError(DocumentError):
    """Raised when a document has more bytes than the configured limit."""

    code = "too-large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"document of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class UnsafeXmlError(DocumentError):
    """Raised when the XML declares a DOCTYPE: entities and external DTDs are never read."""

    code = "unsafe-xml"


class MalformedXmlError(DocumentError):
    """Raised when the bytes are not well-formed XML; `line` and `column` say where."""

    code = "malformed-xml"

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"XML is not well-formed{where}: {message}")
        self.line = line
        self.column = column


class NotCdaError(DocumentError):
    """Raised when well-formed XML holds no HL7 CDA R2 ClinicalDocument."""

    code = "not-cda"


class UnsupportedDocumentError(DocumentError):
    """Raised for a CDA document that is neither a CR-BIO nor a BIO-TROD report."""

    code = "unsupported-document"


class TooDeepError(DocumentError):
    """Raised when sections, entries or code translations nest deeper than any real report.

    The bound is `bridge.cda.limits.MAX_DEPTH`.
    """

    code = "too-deep"


class TerminologyError(BridgeError):
    """A terminology operation could not be answered."""

    code = "terminology-error"


class JdvFormatError(TerminologyError, ValueError):
    """Raised when a JDV spreadsheet does not have the expected columns (it names them)."""

    code = "jdv-format"


class TerminologyUnavailable(TerminologyError):
    """Raised when the SMT cannot answer (down, timing out, refusing) and nothing is cached."""

    code = "terminology-unavailable"


class ConceptMapNotFound(TerminologyError, LookupError):
    """Raised when a $translate names a ConceptMap (url, version) that is not known."""

    code = "conceptmap-not-found"


class ConversionRefused(TerminologyError, ValueError):
    """Raised when a result cannot be converted: unknown unit, other dimension, no factor."""

    code = "conversion-refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def rejection(exc: BaseException) -> str:
    """Why a document of a batch was not converted, as the reports give it (the reason's
    code before the colon): `code: message` for a refused document, an internal error
    for a bug, which stops that document only, never the batch."""
    if isinstance(exc, DocumentError):
        return f"{exc.code}: {exc}"
    return f"internal error (please report): {exc!r}"

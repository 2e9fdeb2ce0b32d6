"""The refusals of a bulk export; each `code` is mapped to an HTTP status by the API.

BridgeError
└── ExportError
    ├── InvalidExportRequest (ValueError)  a parameter that cannot be read (400)
    ├── UnsupportedExportParameter         a parameter or value not supported here (400)
    ├── TooManyExports                     the client already has exports waiting (429)
    └── ExportNotFound (LookupError)       no such export for this client: never
                                           started, deleted, or expired (404)
"""

from __future__ import annotations

from bridge.errors import BridgeError
from bridge.mapping import dumps

__all__ = [
    "ExportError",
    "ExportNotFound",
    "InvalidExportRequest",
    "TooManyExports",
    "UnsupportedExportParameter",
    "outcome_json",
]


class ExportError(BridgeError):
    code = "export-error"


class InvalidExportRequest(ExportError, ValueError):
    """A kick-off parameter whose value cannot be understood."""

    code = "invalid-request"


class UnsupportedExportParameter(ExportError):
    """A parameter (or value) this server does not support; the client may ask again
    without it, or with `Prefer: handling=lenient` to have it left aside."""

    code = "export-not-supported"


class TooManyExports(ExportError):
    """The client has as many exports waiting or running as it may; `retry_after` seconds."""

    code = "too-many-requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class ExportNotFound(ExportError, LookupError):
    code = "not-found"


def outcome_json(severity: str, code: str, diagnostics: str) -> bytes:
    """An OperationOutcome of one issue, as the error file or a failed job's answer holds it."""
    issue = {"severity": severity, "code": code, "diagnostics": diagnostics}
    return dumps({"resourceType": "OperationOutcome", "issue": [issue]})

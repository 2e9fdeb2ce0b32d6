"""Exports beside the store.

- Converted documents as FHIR NDJSON, one line per resource id: `flatten` gives a
  document's resources with `Type/id` references; `precedence`, `newest` and
  `kept_form` decide which document's version of a resource is kept (as `$ingest`
  does); `NdjsonWriter` writes many documents' resources with constant memory, in a
  `Manifest`'s work directory that a killed run resumes from (`crbio convert`).
- The FHIR Bulk Data export of the store (`bulk`, `jobs`, `worker`, `service`).
"""

from __future__ import annotations

from bridge.export.flatten import FlatDocument as FlatDocument
from bridge.export.flatten import FlatResource as FlatResource
from bridge.export.flatten import flatten as flatten
from bridge.export.flatten import flatten_conversion as flatten_conversion
from bridge.export.flatten import identifier_key as identifier_key
from bridge.export.manifest import Manifest as Manifest
from bridge.export.manifest import ResumeError as ResumeError
from bridge.export.manifest import SourceFile as SourceFile
from bridge.export.ndjson import NdjsonWriter as NdjsonWriter
from bridge.export.ndjson import Published as Published
from bridge.export.ndjson import StagedDocument as StagedDocument
from bridge.export.ndjson import kept_line as kept_line
from bridge.export.precedence import kept_form as kept_form
from bridge.export.precedence import newest as newest
from bridge.export.precedence import precedence as precedence

__all__ = [
    "FlatDocument",
    "FlatResource",
    "Manifest",
    "NdjsonWriter",
    "Published",
    "ResumeError",
    "SourceFile",
    "StagedDocument",
    "flatten",
    "flatten_conversion",
    "identifier_key",
    "kept_form",
    "kept_line",
    "newest",
    "precedence",
]

"""Which version of a resource a store keeps, when several documents write it.

The rules of `$ingest` (bridge/store/ingestion.py), as pure functions of facts every
document carries, so that NDJSON written by `crbio convert`, by Spark or by anything
else holds, resource for resource, what a store fed the same documents would hold,
whatever order the documents come in:

1. A resource written by several documents (the Patient, the laboratory, the
   biologist, a tube or an order met in several reports) is kept as the document
   with the greatest `precedence` wrote it: the newest document time
   (DocumentReference.date) first. Equal times (and documents without a time, which
   rank below every dated one) are told apart by the document id, then by the digest
   of the source bytes, so that the choice never depends on the order of arrival.
2. A document replaced by another one of the same set (RPLC: the other's
   DocumentReference.relatesTo `replaces` names its id) loses to every document that
   is not replaced; its report (the DiagnosticReport and its Observations: role
   "report") is left out, as the store deletes it from the current results; its own
   DocumentReference (role "document") is kept with status `superseded`.

A store decides rule 1 in order of arrival and keeps the later of two documents with
the same time; here the tie-break makes the answer a function of the documents alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from bridge.store.documents import superseded

__all__ = ["Role", "Version", "kept_form", "newest", "precedence", "rank", "rewritten"]

Role = Literal["report", "document"] | None
_EPOCH_SHIFT = 2**62  # epoch µs of any year from 1 to 9999, shifted to a positive number


def precedence(document_time: int | None, document_id: str, digest: str) -> str:
    """A string that sorts like the documents' precedence: the greater one wins.

    `document_time` is the document's DocumentReference.date in epoch microseconds
    (None when it has none), `document_id` its id (`root|extension`), `digest` the
    SHA-256 of its bytes (hex). The string is comparable as text (Python, SQL, Spark).

    >>> older = precedence(1_700_000_000_000_000, "1.2.3|b", "00")
    >>> older < precedence(1_700_000_000_000_001, "1.2.3|a", "00")
    True
    >>> precedence(None, "z", "ff") < precedence(-10**15, "a", "00")  # undated: lowest
    True
    """
    shifted = 0 if document_time is None else document_time + _EPOCH_SHIFT
    return f"{shifted:020d} {document_id} {digest}"


Version = tuple[bool, str]  # (written by a replaced document, precedence of that document)


def rank(replaced: bool, document_precedence: str) -> tuple[bool, str]:
    """The sort key of a version: any current document above any replaced one, then
    precedence. The version with the greatest rank is kept."""
    return (not replaced, document_precedence)


def newest(versions: Iterable[tuple[Version, Role]]) -> int | None:
    """The index of the version kept among ((replaced, precedence), role) pairs of one
    resource id, or None when none is (only the report of replaced documents).

    >>> newest([((False, "1"), None), ((False, "2"), None)])
    1
    >>> newest([((True, "9"), None), ((False, "1"), None)])
    1
    >>> newest([((True, "9"), "report")]) is None
    True
    """
    best: int | None = None
    best_rank: tuple[bool, str] | None = None
    for i, ((replaced, document_precedence), role) in enumerate(versions):
        if replaced and role == "report":
            continue
        candidate = rank(replaced, document_precedence)
        if best_rank is None or candidate > best_rank:
            best, best_rank = i, candidate
    return best


def rewritten(replaced: bool, role: Role) -> bool:
    """Whether a version is kept in another form than written: the own
    DocumentReference of a replaced document (superseded)."""
    return replaced and role == "document"


def kept_form(resource: dict[str, Any], replaced: bool, role: Role) -> dict[str, Any]:
    """The resource as kept: a replaced document's own DocumentReference is superseded."""
    return superseded(resource) if rewritten(replaced, role) else resource

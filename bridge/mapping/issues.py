"""Caveats collected while mapping: what was converted with a reservation, and where.

Mappers never raise on bad data and never log; they add an `Issue` naming the
element (an XPath into the source document) and carry on.
"""

from __future__ import annotations

from typing import Any, Literal

from bridge.cda.locations import xpath_of

__all__ = ["Issue", "IssueCode", "Issues", "Severity"]

Severity = Literal["error", "warning", "information"]

IssueCode = Literal[
    "code-missing",  # an element that needs a code has none
    "code-system-missing",  # a code without @codeSystem: not comparable
    "decimal-comma",  # "0,95" read as 0.95
    "display-missing",  # a code without displayName nor text
    "duplicate-resource",  # two elements gave the same identity with different content
    "effective-inherited",  # a result without time took its organizer's or specimen's time
    "entry-not-shown",  # an entry found where it cannot be shown (REFR to an act…)
    "interpretation-outside-value-set",  # kept as given
    "invalid-date",  # a timestamp that is not a date
    "invalid-number",  # a value that is not a decimal
    "loinc-absent",  # a result coded without LOINC
    "loinc-check-digit",  # a LOINC code whose check digit is wrong
    "media-invalid",  # a PDF or image whose bytes are not what its type says
    "narrative-reference-missing",  # originalText points to an ID absent from the narrative
    "narrative-sanitised",  # narrative markup FHIR does not allow, dropped (its text kept)
    "nullflavor-mapped",  # a nullFlavor became a dataAbsentReason
    "patient-without-ins",  # the patient has no INS: linked by the local id only
    "range-low-equals-high",  # a reference range with low = high (kept)
    "range-open-bound",  # an exclusive bound inside a two-sided range
    "reference-range-empty",  # a referenceRange with nothing usable
    "reference-range-not-normal",  # a range whose interpretation is not N (typed as such)
    "replaces-document",  # the document replaces an earlier one: retract it where it is stored
    "result-nested",  # a result inside a result: CR-BIO does not nest them
    "second-unit-uncoded",  # a 2021-style second unit with no JDV correspondence
    "several-kept-first",  # FHIR allows one where CDA gave several
    "too-many-issues",  # more issues of one code than are worth listing
    "status-unknown",  # a statusCode outside completed/active/aborted/obsolete
    "time-without-offset",  # a time without timezone, reduced to the date
    "unit-alias",  # a French unit spelling normalised through the alias table
    "unit-not-ucum",  # kept as text, no system, never converted
    "unknown-template",  # an entry no mapper handles
    "unknown-value-type",  # an xsi:type crbio-bridge does not read
    "unmapped-section",  # a section kept only in the narrative
]


class Issue:
    """One caveat: a stable kebab-case `code`, the element's XPath `location`, a message.

    The location is worked out when first read: most issues of a batch are only
    counted, and walking up a large tree for each one would cost more than the
    conversion itself.
    """

    __slots__ = ("code", "message", "input", "severity", "_node", "_attribute", "_location")

    def __init__(
        self,
        code: str,
        node: Any,
        message: str,
        input: str | None = None,
        severity: Severity = "warning",
        attribute: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.input = input
        self.severity = severity
        self._node = node
        self._attribute = attribute
        self._location: str | None = None

    @property
    def location(self) -> str:
        if self._location is None:
            self._location = xpath_of(self._node, self._attribute)
        return self._location

    def as_dict(self) -> dict[str, str]:
        out = {
            "severity": self.severity,
            "code": self.code,
            "location": self.location,
            "message": self.message,
        }
        if self.input is not None:
            out["input"] = self.input
        return out

    def __repr__(self) -> str:
        return f"Issue({self.severity} {self.code} at {self.location}: {self.message})"


class Issues:
    """The issues of one conversion, in the order they were found.

    At most `per_code` issues of one code are listed; the rest are counted in one
    closing `too-many-issues` issue, so that a document with twenty thousand bad
    values cannot make the list (and locating each one) the costly part.

    The same issue about the same element is listed once: an element can be read by
    more than one mapper (a specimen's collection time serves the Specimen and, when a
    result has no time of its own, the result), and its reader wants one warning.
    """

    __slots__ = ("_items", "_counts", "_seen", "per_code")

    def __init__(self, per_code: int = 100) -> None:
        self._items: list[Issue] = []
        self._counts: dict[str, int] = {}
        self._seen: set[tuple[str, Any, str | None, str]] = set()
        self.per_code = per_code

    def add(
        self,
        code: IssueCode,
        node: Any,
        message: str,
        *,
        input: str | None = None,
        attribute: str | None = None,
        severity: Severity = "warning",
    ) -> None:
        key = (code, node, attribute, message)  # elements hash by identity
        if key in self._seen:
            return
        self._seen.add(key)
        seen = self._counts.get(code, 0)
        self._counts[code] = seen + 1
        if seen < self.per_code:
            self._items.append(Issue(code, node, message, input, severity, attribute))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.freeze())

    def __len__(self) -> int:
        return len(self.freeze())

    def freeze(self) -> tuple[Issue, ...]:
        more = [
            Issue(
                "too-many-issues",
                None,
                f"{count - self.per_code} more {code} issue(s) not listed",
                input=code,
                severity="information",
            )
            for code, count in self._counts.items()
            if count > self.per_code
        ]
        return (*self._items, *more)

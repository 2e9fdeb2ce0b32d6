"""`Observation/$lastn` (FHIR R4): the most recent results of each code of a patient.

The parameters are those of an Observation search plus `max` (default 1): a subject
(`patient` or `subject`) and a `category` and/or `code` are required, as the
specification says. Without a `status`, the results are the current ones (final,
amended, corrected, preliminary), as in `$series`: a cancelled or aborted result, one
entered in error, is never shown as a patient's last value (brief §3); a client that
wants them asks with `status`. The store does the grouping in one statement
(`bridge.store.lastn`); this module checks the request and writes the Bundle.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bridge.results.series import CURRENT_STATUSES
from bridge.store import Store, parse_query
from bridge.store.search import MAX_COUNT
from bridge.terminology.operations import InvalidRequest

__all__ = ["lastn"]


def lastn(
    store: Store, params: Iterable[tuple[str, str]], *, base: str | None = None
) -> dict[str, Any]:
    """The searchset Bundle of $lastn: per code, the `max` most recent Observations.

    Raises:
        InvalidRequest: no subject, neither category nor code, or a `max` that is not a
            whole number from 1 to 1000.
        InvalidSearch: a search parameter whose value is not understood.
    """
    pairs = list(params)
    wanted = [value for name, value in pairs if name == "max"]
    most = wanted[-1] if wanted else "1"
    if not (most.isascii() and most.isdigit()) or not 1 <= int(most) <= MAX_COUNT:
        raise InvalidRequest(f"max must be a whole number from 1 to {MAX_COUNT}, not {most!r}")
    asked = [(n, v) for n, v in pairs if n != "max"]
    if not any(n == "status" or n.startswith("status:") for n, _ in asked):
        asked.append(("status", ",".join(CURRENT_STATUSES)))
    query = parse_query("Observation", asked)
    names = {c.name for c in query.conditions}
    if not names & {"patient", "subject"}:
        raise InvalidRequest("$lastn needs the patient (patient or subject)")
    if not names & {"category", "code"}:
        raise InvalidRequest("$lastn needs a category and/or a code")
    found = store.lastn(query, int(most))
    prefix = f"{base}/" if base else ""
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(found)}
    if found:  # FHIR: no empty array
        bundle["entry"] = [
            {
                "fullUrl": f"{prefix}Observation/{stored.id}",
                "resource": stored.resource(),
                "search": {"mode": "match"},
            }
            for stored in found
        ]
    return bundle

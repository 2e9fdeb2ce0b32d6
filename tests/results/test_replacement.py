"""bridge.results.replacement_of on each engine: from a replaced report to the one in force."""

from __future__ import annotations

from bridge.mapping import convert
from bridge.results.reports import replacement_of
from bridge.store import Store
from tests.helpers import EXAMPLES

FIRST = (EXAMPLES / "glucose-two-units.xml").read_bytes()
SECOND = (EXAMPLES / "glucose-replacement.xml").read_bytes()
# a third version replacing the second: its own id, the second as parent
THIRD = (
    SECOND.replace(
        b'<id root="1.2.250.1.213.1.1.9.999.1.2"/>', b'<id root="1.2.250.1.213.1.1.9.999.1.3"/>'
    )
    .replace(b'<versionNumber value="2"/>', b'<versionNumber value="3"/>')
    .replace(
        b'<id root="1.2.250.1.213.1.1.9.999.1.1"/>', b'<id root="1.2.250.1.213.1.1.9.999.1.2"/>'
    )
    .replace(b'<versionNumber value="1"/>', b'<versionNumber value="2"/>')
)


def _report_id(store: Store, source: bytes) -> str:
    response, _ = store.ingest(convert(source))
    [location] = [
        e["response"]["location"]
        for e in response["entry"]
        if e["response"].get("location", "").startswith("DiagnosticReport/")
    ]
    return str(location.split("/")[1])


def test_a_replaced_report_leads_to_the_report_in_force_through_every_version(
    store: Store,
) -> None:
    first = _report_id(store, FIRST)
    assert replacement_of(store, first) is None  # current: nothing replaced it
    second = _report_id(store, SECOND)
    assert replacement_of(store, first)["id"] == second  # type: ignore[index]
    third = _report_id(store, THIRD)
    assert THIRD != SECOND and third not in (first, second)
    assert replacement_of(store, first)["id"] == third  # type: ignore[index]
    assert replacement_of(store, second)["id"] == third  # type: ignore[index]
    assert replacement_of(store, third) is None


def test_a_report_deleted_for_another_reason_has_no_replacement(store: Store) -> None:
    first = _report_id(store, FIRST)
    store.delete("DiagnosticReport", first)
    assert replacement_of(store, first) is None


def test_a_replacement_that_arrived_first_is_found_too(store: Store) -> None:
    second = _report_id(store, SECOND)
    first = _report_id(store, FIRST)  # late: stored, deleted at once
    assert replacement_of(store, first)["id"] == second  # type: ignore[index]

"""Terminology at scale: the broadcast JDV and displays, the misses, the SMT asked once.

The SMT is a second bridge on loopback, with a JDV version that knows urea's
correspondence (test rows, not the JDV's): what the driver's JDV lacks goes there,
each distinct question once, and the documents that asked get its answers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bridge.api import create_app
from bridge.cli.main import app
from bridge.mapping.correspondence import seed_correspondence, seed_label
from bridge.settings import Settings
from bridge.spark import SmtAccess, Terminology, run
from bridge.spark.smt import client_for
from bridge.store import Store, open_store
from bridge.terminology import TerminologyService
from bridge.terminology.jdv import JdvRow, seed_rows
from bridge.terminology.service import SYNCED_VALUE_SETS
from tests.helpers import EXAMPLES
from tests.serving import Serving
from tests.spark.test_convert import cli_lines, spark_lines

LOINC = "http://loinc.org"
UREA = "urea-glucose-2021-translation.xml"
UREA_LABEL = "Urée [Moles/Volume] Sérum/Plasma ; Numérique"
# A JDV version of test rows: urea's correspondence, creatinine's in another unit
EXTRA_ROWS = [
    JdvRow("22664-7", "Urée (JDV de test) [Moles/Volume]", comparability="1",
           ucum_unit="mmol/L", correspondence="3091-6", factor=None, source="test"),
    JdvRow("3091-6", "Urée (JDV de test) [Masse/Volume]", comparability="1",
           ucum_unit="g/L", correspondence="22664-7", factor=None, source="test"),
    JdvRow("14682-9", "Créatinine (JDV de test) [Moles/Volume]", comparability="1",
           ucum_unit="umol/L", correspondence="2160-0", source="test"),
    JdvRow("2160-0", "Créatinine (JDV de test) [Masse/Volume]", comparability="1",
           ucum_unit="mg/dL", correspondence="14682-9", source="test"),
]  # fmt: skip


def urea_without_display(number: int) -> bytes:
    """The urea example as another document whose urea code has no displayName."""
    text = (EXAMPLES / UREA).read_text(encoding="utf-8")
    document_id = '<id root="1.2.250.1.213.1.1.9.999.8.{}"/>'
    for old, new in (
        (document_id.format(1), document_id.format(number)),
        (f'<code code="22664-7" displayName="{UREA_LABEL}"', '<code code="22664-7"'),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text.encode("utf-8")


def with_test_jdv(store: Store) -> Store:
    TerminologyService(store).save_rows([*seed_rows(), *EXTRA_ROWS], "2099-01")
    return store


def urea_observations(lines: dict[tuple[str, str], bytes]) -> list[dict[str, Any]]:
    observations = [json.loads(line) for (kind, _), line in lines.items() if kind == "Observation"]
    return [o for o in observations if o["code"]["coding"][0]["code"] == "22664-7"]


# The questions, without Spark ---------------------------------------------------------


@pytest.mark.parametrize("unit", ["g/L", "mmol/L", "mg/dL", "G/L", "µmol/L", "umol/L", ""])
def test_the_seed_terminology_answers_as_the_seed_rows(unit: str) -> None:
    asking = Terminology.seed().asking()
    labels = asking.options()["labels"]
    for row in seed_rows():
        assert asking.correspondence(row.loinc, unit) == seed_correspondence(row.loinc, unit)
        assert labels(row.loinc) == seed_label(row.loinc)
    assert labels("2951-2") is None and seed_label("2951-2") is None  # not in the seed
    assert not asking.misses  # the seed lists each code: its silence is an answer


def test_misses_are_the_questions_nothing_here_answers() -> None:
    terminology = Terminology.seed().with_answers({(LOINC, "3091-6", ""): "Urée"})
    asking = Terminology(
        terminology.jdv, {(LOINC, "2345-7"): "Glucose"}, terminology.answers
    ).asking()
    assert asking.correspondence("22664-7", "G/L") is None  # not in the seed: a miss
    assert asking.correspondence("12345-6", "g/L") is None  # fails the check digit: not LOINC
    assert asking.correspondence("40193-5", "mg/dL") is None  # the JDV's answer: none in mg/dL
    assert asking.display(LOINC, "2345-7") == "Glucose"  # a synced display
    assert asking.display(LOINC, "3091-6") == "Urée"  # an answer of the SMT
    assert asking.display(LOINC, "718-7") is None
    assert asking.display("", "X") is None  # no system: nothing to ask
    assert asking.misses == {(LOINC, "22664-7", "10*9/L"), (LOINC, "718-7", "")}
    options = asking.options()
    assert options["displays"] and options["displays"].get((LOINC, "2345-7")) == "Glucose"


def test_one_client_per_worker_process_for_the_same_access() -> None:
    access = SmtAccess("http://127.0.0.1:9/fhir", rate=5.0)
    assert client_for(access) is client_for(SmtAccess("http://127.0.0.1:9/fhir", rate=5.0))
    assert client_for(access.shared(4)).bucket.rate == 1.25


# On Spark ------------------------------------------------------------------------------


class Counting:
    """An ASGI app that counts the requests (path and query) reaching the one it wraps."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, Counter[tuple[str, str]]()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls[(scope["path"], scope["query_string"].decode())] += 1
        await self.inner(scope, receive, send)


@pytest.fixture
def smt(tmp_path: Path) -> Iterator[tuple[str, Counting]]:
    """A second bridge playing the SMT, with the test JDV, on loopback."""
    store = with_test_jdv(open_store(f"sqlite:///{tmp_path / 'smt.sqlite3'}"))
    counting = Counting(create_app(Settings(offline=True), store=store))
    try:
        with Serving(counting) as server:
            yield f"{server.url}/fhir", counting
    finally:
        store.close()


def test_only_the_misses_go_to_the_smt_once_each(
    spark: Any, smt: tuple[str, Counting], tmp_path: Path
) -> None:
    base, counting = smt
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.xml").write_bytes((EXAMPLES / UREA).read_bytes())
    (tmp_path / "in" / "b.xml").write_bytes(urea_without_display(2))
    report = run(
        spark,
        [str(tmp_path / "in")],
        str(tmp_path / "out"),
        smt=SmtAccess(base, rate=50.0, timeout=10.0),
    )
    asked = Counter(path for path, _ in counting.calls.elements())
    # urea in g/L, creatinine in mg/L (two documents ask them), urea's display (one does)
    assert asked == {"/fhir/ConceptMap/$translate": 2, "/fhir/CodeSystem/$lookup": 1}
    assert (report.misses, report.answered, report.reconverted) == (3, 2, 2)
    assert not report.smt_errors and not report.rejected
    urea = urea_observations(spark_lines(tmp_path / "out"))
    assert len(urea) == 2
    for observation in urea:
        component = observation["component"][0]["code"]["coding"][0]
        assert (component["code"], component["display"]) == ("3091-6", EXTRA_ROWS[1].label)
    displays = {o["code"]["coding"][0].get("display") for o in urea}
    assert displays == {UREA_LABEL, EXTRA_ROWS[0].label}  # the lab's, and the SMT's
    creatinine = [
        json.loads(line) for (kind, _), line in spark_lines(tmp_path / "out").items()
        if kind == "Observation" and json.loads(line)["code"]["coding"][0]["code"] == "14682-9"
    ]  # fmt: skip
    assert creatinine and all("coding" not in o["component"][0]["code"] for o in creatinine)


def test_the_store_terminology_is_broadcast_as_crbio_convert_uses_it(
    spark: Any, tmp_path: Path
) -> None:
    database = tmp_path / "crbio.sqlite3"
    store = with_test_jdv(open_store(f"sqlite:///{database}"))
    synced = {"system": LOINC, "code": "22664-7", "display": "Urée synchronisée"}
    store.put_resource(
        {
            "resourceType": "ValueSet",
            "url": SYNCED_VALUE_SETS[0],
            "version": "2099",
            "status": "active",
            "expansion": {"contains": [synced]},
        }
    )
    store.close()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "b.xml").write_bytes(urea_without_display(3))
    env = {"COLUMNS": "200", "BRIDGE_DATABASE_URL": f"sqlite:///{database}"}
    runner = CliRunner()
    cli = runner.invoke(
        app, ["convert", str(tmp_path / "in"), "-o", str(tmp_path / "cli"), "--format", "ndjson",
              "--terminology"], env=env,
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    on_spark = runner.invoke(
        app, ["spark-convert", str(tmp_path / "in"), str(tmp_path / "spark"), "--terminology"],
        env=env,
    )  # fmt: skip
    assert on_spark.exit_code == 0, on_spark.output
    written = spark_lines(tmp_path / "spark")
    assert written == cli_lines(tmp_path / "cli")
    (urea,) = urea_observations(written)
    assert urea["code"]["coding"][0]["display"] == "Urée synchronisée"
    assert urea["component"][0]["code"]["coding"][0]["code"] == "3091-6"
    assert "could not answer" not in on_spark.stderr  # the store's JDV knows every code

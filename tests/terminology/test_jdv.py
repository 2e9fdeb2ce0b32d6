"""The JDV as a ConceptMap: the seed, the official spreadsheet (built here with openpyxl)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from bridge.cli.main import app
from bridge.errors import ConceptMapNotFound, JdvFormatError
from bridge.terminology import CONCEPTMAP_URL, SqliteTerminologyStore, TerminologyService
from bridge.terminology.conceptmap import (
    LOINC,
    PROPERTY_EXTENSION,
    TARGET_PROPERTY_EXTENSION,
    JdvIndex,
    build_conceptmap,
)
from bridge.terminology.jdv import merge_rows, read_spreadsheet, seed_rows

# The official layout (webinar slides): a group row, then the headers; "LOINC" twice.
GROUPS = ["EXAMEN PRESCRIPTIBLE", None, None, "ANALYSES PORTEUSES DE RESULTAT"]
HEADERS = [
    "Libellé de la demande",
    "LOINC",
    "Libellé Français de référence",
    "Chapitre LOINC",
    "Libellés chapitres LOINC",
    "LOINC",
    "Libellés français de référence",
    "Libellés d'édition (Reférentiel JDV ANS)",
    "Niveau minimum de comparabilité",
    "Liste restreinte O/N",
    "Unité recommandée",
    "Unité UCUM",
    "Présence systéma. CR O/N",
    "Correspondance",
    "Facteur de conversion des unités",
    "Codes_bio_attente_LOINC",
]
ROWS = [
    [
        "Exploration d'une anomalie lipidique (EAL)",
        "24331-1",
        "Lipide (1996) panel",
        "18719-5",
        "Biochimie",
        "14647-2",
        "Cholestérol [Moles/Volume] Sérum/Plasma ; Numérique",
        "Cholestérol",
        1,
        "O",
        "mmol/L",
        "mmol/L",
        "O",
        "2093-3",
        0.387,
        None,
    ],
    [
        "Exploration d'une anomalie lipidique (EAL)",
        "24331-1",
        "Lipide (1996) panel",
        "18719-5",
        "Biochimie",
        "2093-3",
        "Cholestérol [Masse/Volume] Sérum/Plasma ; Numérique",
        "Cholestérol",
        1,
        "O",
        "g/L",
        "g/L",
        "N",
        "14647-2",
        "2,586",
        None,
    ],
    [
        "Cholestérol total",
        "14647-2",
        "Cholestérol [Moles/Volume]",
        "18719-5",
        "Biochimie",
        "14647-2",
        "Cholestérol [Moles/Volume] Sérum/Plasma ; Numérique",
        "Cholestérol",
        1,
        "O",
        "mmol/L",
        "mmol/L",
        "O",
        "2093-3",
        0.387,
        None,
    ],
    [
        "Glycémie",
        "2345-7",
        "Glucose",
        "18719-5",
        "Biochimie",
        "14749-6",
        "Glucose [Moles/Volume] Sérum/Plasma ; Numérique",
        "Glucose",
        9,
        "N",
        "mmol/L",
        "mmol/L",
        "O",
        "2345-7",
        0.18,
        "ATT-1 ATT-2",
    ],
    [
        "TSH",
        "11580-8",
        "Thyréostimuline",
        "18719-5",
        "Biochimie",
        "11580-8",
        "Thyréostimuline [Arbitraire/Volume] Sérum/Plasma ; Numérique",
        "TSH",
        2,
        "O",
        "mUI/L",
        "m[IU]/L",
        "O",
        None,
        None,
        None,
    ],
]


def workbook(
    path: Path, headers: list[Any] = HEADERS, rows: list[list[Any]] = ROWS, title_rows: int = 2
) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "1.JDV_CircuitBio"
    for _ in range(title_rows):
        sheet.append(["JDV Circuit de la biologie"])
    sheet.append(GROUPS)
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_seed_rows_carry_their_source_and_the_brief_figures() -> None:
    rows, problems = merge_rows(seed_rows())
    assert problems == []
    assert rows["40193-5"].factor == Decimal("0.18") and rows["53049-3"].factor == Decimal("5.551")
    assert rows["14647-2"].factor == Decimal("0.387") and rows["2093-3"].factor == Decimal("2.586")
    assert rows["53094-9"].correspondence == "16915-1"
    assert not rows["2284-8"].factor_official
    assert all(row.source for row in rows.values())
    assert {rows[c].comparability for c in ("40193-5", "14647-2", "718-7")} == {"1"}
    assert {rows[c].comparability for c in ("2284-8", "11580-8")} == {"2"}
    assert {rows[c].comparability for c in ("14749-6", "16915-1")} == {"9"}


def test_conceptmap_carries_factor_level_units_and_provenance_per_direction() -> None:
    rows, _ = merge_rows(seed_rows())
    conceptmap = build_conceptmap(rows, "seed")
    assert conceptmap["sourceUri"] == conceptmap["targetUri"] == LOINC
    assert {
        e["extension"][0]["valueCode"]
        for e in conceptmap["extension"]
        if e["url"] == PROPERTY_EXTENSION
    } >= {"factor", "comparability"}
    [element] = [e for e in conceptmap["group"][0]["element"] if e["code"] == "53049-3"]
    [target] = element["target"]
    assert target["code"] == "40193-5"
    properties = {
        p["extension"][0]["valueCode"]: p["extension"][1]
        for p in target["extension"]
        if p["url"] == TARGET_PROPERTY_EXTENSION
    }
    assert properties["factor"] == {"url": "value", "valueDecimal": Decimal("5.551")}
    assert properties["comparability"]["valueCode"] == "1"
    assert properties["source-unit"]["valueCode"] == "g/L"
    assert properties["target-unit"]["valueCode"] == "mmol/L"
    assert "webinar" in properties["provenance"]["valueString"]


def test_conceptmap_is_valid_fhir() -> None:
    from fhir.resources.R4B.conceptmap import ConceptMap

    rows, _ = merge_rows(seed_rows())
    ConceptMap.model_validate(build_conceptmap(rows, "seed"))


def test_every_match_in_both_directions() -> None:
    rows, _ = merge_rows(seed_rows())
    index = JdvIndex(build_conceptmap(rows, "seed"))
    assert [m.code for m in index.translate(LOINC, "14647-2")] == ["2093-3"]
    assert [m.code for m in index.translate(LOINC, "2093-3", reverse=True)] == ["14647-2"]
    assert index.translate(LOINC, "718-7") == ()


def test_spreadsheet_is_read_by_header_names(tmp_path: Path) -> None:
    rows = read_spreadsheet(workbook(tmp_path / "jdv.xlsx"))
    assert [r.loinc for r in rows] == ["14647-2", "2093-3", "14647-2", "14749-6", "11580-8"]
    cholesterol = rows[0]
    assert cholesterol.label == "Cholestérol [Moles/Volume] Sérum/Plasma ; Numérique"
    assert (cholesterol.factor, cholesterol.ucum_unit, cholesterol.comparability) == (
        Decimal("0.387"),
        "mmol/L",
        "1",
    )
    assert rows[1].factor == Decimal("2.586")  # "2,586" written with a French comma
    assert rows[3].waiting_codes == ("ATT-1", "ATT-2")
    assert cholesterol.contexts == ("Exploration d'une anomalie lipidique (EAL)",)
    assert cholesterol.source.endswith("row 5")  # two title rows, the groups, the headers


def test_columns_may_move_and_carry_extra_words(tmp_path: Path) -> None:
    order = list(range(len(HEADERS)))
    order[8], order[14] = order[14], order[8]  # swap comparability and factor columns
    headers = [HEADERS[i] + (" (colonne AB)" if i == 14 else "") for i in order]
    rows = [[row[i] for i in order] for row in ROWS]
    moved = read_spreadsheet(workbook(tmp_path / "moved.xlsx", headers, rows))
    assert moved[0].factor == Decimal("0.387") and moved[0].comparability == "1"


def test_an_analysis_on_several_rows_is_one_element(tmp_path: Path) -> None:
    rows, problems = merge_rows(read_spreadsheet(workbook(tmp_path / "jdv.xlsx")))
    assert problems == []
    assert rows["14647-2"].contexts == (
        "Exploration d'une anomalie lipidique (EAL)",
        "Cholestérol total",
    )
    elements = build_conceptmap(rows, "v1")["group"][0]["element"]
    assert [e["code"] for e in elements].count("14647-2") == 1


def test_rows_that_disagree_keep_the_least_comparable_level(tmp_path: Path) -> None:
    rows = [list(r) for r in ROWS]
    rows[2][8] = 2  # the second context of 14647-2 says "not comparable"
    merged, problems = merge_rows(read_spreadsheet(workbook(tmp_path / "jdv.xlsx", rows=rows)))
    assert merged["14647-2"].comparability == "2"
    assert any("14647-2" in p and "comparability" in p for p in problems)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    headers = [h for h in HEADERS if h not in ("Correspondance", "Unité UCUM")]
    rows = [r[: len(headers)] for r in ROWS]
    with pytest.raises(JdvFormatError) as refused:
        read_spreadsheet(workbook(tmp_path / "bad.xlsx", headers, rows))
    assert "'correspondance'" in str(refused.value) and "'unite ucum'" in str(refused.value)


def test_an_import_is_a_new_version_and_keeps_the_previous(tmp_path: Path) -> None:
    service = TerminologyService(SqliteTerminologyStore(tmp_path / "t.sqlite"))
    assert [m.code for m in service.jdv().translate(LOINC, "40193-5")] == ["53049-3"]  # seed
    report = service.import_spreadsheet(workbook(tmp_path / "jdv.xlsx"), "2025-09")
    assert (report.rows, report.analyses, report.correspondences) == (5, 4, 3)
    assert service.versions() == ["seed", "2025-09"]
    assert service.jdv().version == "2025-09"
    assert service.jdv().translate(LOINC, "40193-5") == ()  # not in this release
    assert [m.code for m in service.jdv("seed").translate(LOINC, "40193-5")] == ["53049-3"]
    with pytest.raises(ConceptMapNotFound, match="2019"):
        service.jdv("2019")
    reopened = TerminologyService(SqliteTerminologyStore(tmp_path / "t.sqlite"))
    assert reopened.versions() == ["seed", "2025-09"]


def test_cli_import_and_translate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("BRIDGE_SMT_URL", "http://127.0.0.1:9/fhir")  # nothing listens there
    runner = CliRunner()
    imported = runner.invoke(
        app,
        ["terminology", "import-jdv", str(workbook(tmp_path / "j.xlsx")), "--version", "2025-09"],
    )
    assert imported.exit_code == 0, imported.output
    assert "3 correspondences" in imported.stdout
    translated = runner.invoke(
        app, ["terminology", "translate", "--code", "14647-2"], env={"COLUMNS": "200"}
    )
    assert translated.exit_code == 0, translated.output
    assert "2093-3" in translated.stdout and "0.387" in translated.stdout
    assert "relatedto" in translated.stdout
    none = runner.invoke(app, ["terminology", "translate", "--code", "11580-8"])
    assert none.exit_code == 1 and "no match" in none.stdout  # in the JDV, no correspondence
    offline = runner.invoke(app, ["terminology", "translate", "--code", "2951-2"])
    assert offline.exit_code == 1 and "terminology-unavailable" in offline.stderr
    bad = runner.invoke(
        app,
        [
            "terminology",
            "import-jdv",
            str(workbook(tmp_path / "b.xlsx", HEADERS[:6], [r[:6] for r in ROWS])),
        ],
    )
    assert bad.exit_code == 1 and "jdv-format" in bad.stderr
    assert CONCEPTMAP_URL


def test_convert_uses_the_imported_jdv_for_second_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import EXAMPLES

    urea = [
        "Urée",
        "22664-7",
        "Urée",
        "18719-5",
        "Biochimie",
        "22664-7",
        "Urée [Moles/Volume] Sérum/Plasma ; Numérique",
        "Urée",
        1,
        "O",
        "mmol/L",
        "mmol/L",
        "O",
        "3091-6",
        0.06,
        None,
    ]
    urea_mass = [
        "Urée",
        "22664-7",
        "Urée",
        "18719-5",
        "Biochimie",
        "3091-6",
        "Urée [Masse/Volume] Sérum/Plasma ; Numérique",
        "Urée",
        1,
        "O",
        "g/L",
        "g/L",
        "N",
        "22664-7",
        16.67,
        None,
    ]
    monkeypatch.setenv("BRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    runner = CliRunner()
    imported = runner.invoke(
        app,
        [
            "terminology",
            "import-jdv",
            str(workbook(tmp_path / "j.xlsx", rows=[*ROWS, urea, urea_mass])),
            "--version",
            "v",
        ],
    )
    assert imported.exit_code == 0, imported.output
    source = EXAMPLES / "urea-glucose-2021-translation.xml"
    plain = runner.invoke(app, ["convert", str(source)])
    enriched = runner.invoke(app, ["convert", str(source), "--terminology"])
    assert plain.exit_code == enriched.exit_code == 0, enriched.output
    assert '"code":"3091-6"' not in plain.stdout
    assert '"code":"3091-6"' in enriched.stdout


def test_a_row_without_comparability_level_is_reported_and_read_as_9(tmp_path: Path) -> None:
    rows = [list(r) for r in ROWS]
    rows[4][8] = None  # TSH: the level cell left empty
    rows[3][8] = "3"  # glucose: a level the JDV does not define
    service = TerminologyService(SqliteTerminologyStore())
    report = service.import_spreadsheet(workbook(tmp_path / "jdv.xlsx", rows=rows), "v1")
    assert any(
        "11580-8" in p and "no comparability level" in p and "row 9" in p for p in report.problems
    )
    assert any("14749-6" in p and "'3'" in p for p in report.problems)
    assert service.jdv().concept("11580-8").comparability == "9"  # type: ignore[union-attr]
    assert service.jdv().concept("14749-6").comparability == "9"  # type: ignore[union-attr]


def test_the_current_version_is_the_newest_declared_not_the_last_imported(tmp_path: Path) -> None:
    service = TerminologyService(SqliteTerminologyStore())
    assert service.jdv().version == "seed"
    book = workbook(tmp_path / "jdv.xlsx")
    for version in ("2025-10", "2025-09", "2024-12"):  # imported newest first
        service.import_spreadsheet(book, version)
    assert service.versions() == ["seed", "2024-12", "2025-09", "2025-10"]
    assert service.jdv().version == "2025-10"
    service.import_spreadsheet(book, "2026-01")
    assert service.jdv().version == "2026-01"


def test_a_version_imported_by_another_process_is_used_without_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"
    running = TerminologyService(SqliteTerminologyStore(database))
    assert running.jdv().version == "seed"
    other = TerminologyService(SqliteTerminologyStore(database))  # another process's view
    other.import_spreadsheet(workbook(tmp_path / "jdv.xlsx"), "2025-09")
    assert running.jdv().version == "seed"  # checked at most every jdv_refresh seconds
    running.jdv_refresh = 0.0
    assert running.jdv().version == "2025-09"
    assert running.jdv().translate(LOINC, "40193-5") == ()

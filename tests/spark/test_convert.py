"""`crbio spark-convert` writes what `crbio convert --format ndjson` writes, line for line.

One tree holds the examples (a replacement, patients shared by several documents),
the ANS corpus when present, variants of one document (the same patient written by
three documents of different times, under three names) and bad documents (not XML, a
DOCTYPE, one over the size limit). Both commands convert it; their NDJSON, their
refused documents and their de-duplication figures must be the same.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bridge.cli.main import app
from bridge.spark import OutputFormat, run
from tests.export.documents import read_directory, variant
from tests.helpers import EXAMPLES, corpus_files, example_files

MAX_SIZE = 1_000_000  # above every example and corpus document


def crbio(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def flat(text: str) -> str:
    return " ".join(text.split())


def spark_lines(folder: Path) -> dict[tuple[str, str], bytes]:
    """(type, id) → line of Spark's NDJSON (`resource_type=<Type>/part-….ndjson`)."""
    found: dict[tuple[str, str], bytes] = {}
    parts = sorted(folder.glob("resource_type=*/part-*.ndjson"))
    assert parts, f"no NDJSON in {folder}"
    assert not list(folder.glob("resource_type=*/part-*.txt"))
    for part in parts:
        kind = part.parent.name.removeprefix("resource_type=")
        for line in part.read_bytes().splitlines():
            resource = json.loads(line)
            key = (resource["resourceType"], resource["id"])
            assert resource["resourceType"] == kind
            assert key not in found, f"{key} written twice"
            found[key] = line
    return found


def cli_lines(folder: Path) -> dict[tuple[str, str], bytes]:
    found: dict[tuple[str, str], bytes] = {}
    for path in folder.glob("*.ndjson"):
        for line in path.read_bytes().splitlines():
            resource = json.loads(line)
            found[(resource["resourceType"], resource["id"])] = line
    return found


def rejected(output: str) -> list[tuple[str, str]]:
    """(file name, reason) of each `rejected PATH: REASON` line of a final report."""
    return sorted(
        (Path(path).name, reason)
        for path, reason in re.findall(r"^rejected (.+?\.xml): (.+)$", output, re.MULTILINE)
    )


def figures(output: str) -> tuple[str, ...]:
    found = re.search(
        r"(\d+) duplicate version\(s\) merged .*?(\d+) resource\(s\) of (\d+) replaced",
        flat(output),
    )
    assert found, output
    return found.groups()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("archive") / "in"
    for path in example_files():
        (folder / "examples" / path.name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "examples" / path.name).write_bytes(path.read_bytes())
    for path in corpus_files():
        (folder / "corpus").mkdir(parents=True, exist_ok=True)
        (folder / "corpus" / path.name).write_bytes(path.read_bytes())
    (folder / "variants").mkdir()
    for number, (time, family) in enumerate(
        [("20250601090000+0200", "NOUVEAU"), ("20240101090000+0100", "ANCIEN"),
         ("20250601090000+0200", "MEME-HEURE")]  # the same time: the document id decides
    ):  # fmt: skip
        (folder / "variants" / f"v{number}.XML").write_bytes(
            variant(number, time=time, family=family)
        )
    bad = folder / "bad"
    bad.mkdir()
    (bad / "not-xml.xml").write_bytes(b"%PDF-1.4 not a CDA")
    (bad / "doctype.xml").write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><ClinicalDocument/>'
    )
    padding = b"<!--" + b" " * MAX_SIZE + b"-->"
    (bad / "too-large.xml").write_bytes((EXAMPLES / "trod-covid.xml").read_bytes() + padding)
    return folder


@pytest.fixture(scope="module")
def both(tree: Path, spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both commands' output and final report, for the same tree."""
    out = tmp_path_factory.mktemp("out")
    cli = crbio("convert", tree, "-o", out / "cli", "--format", "ndjson", "--max-size", MAX_SIZE)
    on_spark = crbio("spark-convert", tree, out / "spark", "--max-size", MAX_SIZE)
    return {"cli": cli, "spark": on_spark, "out": out}


def test_spark_writes_the_lines_crbio_convert_writes(both: dict[str, Any]) -> None:
    assert both["cli"].exit_code == 1, both["cli"].output  # the bad documents
    assert both["spark"].exit_code == 1, both["spark"].output
    expected = cli_lines(both["out"] / "cli")
    written = spark_lines(both["out"] / "spark")
    assert set(written) == set(expected)
    assert written == expected  # byte for byte: references, versions kept, superseded
    assert (both["out"] / "spark" / "_SUCCESS").exists()


def test_shared_patient_kept_as_the_newest_document_wrote_it(both: dict[str, Any]) -> None:
    resources = read_directory(both["out"] / "cli")
    written = spark_lines(both["out"] / "spark")
    families = {
        json.loads(line, parse_float=Decimal)["name"][0]["family"]
        for (kind, _), line in written.items()
        if kind == "Patient"
    }
    assert "ANCIEN" not in families  # the older variant's name lost to the newer ones
    assert len(families & {"NOUVEAU", "MEME-HEURE"}) == 1
    superseded = [
        r for (kind, _), r in resources.items()
        if kind == "DocumentReference" and r.get("status") == "superseded"
    ]  # fmt: skip
    assert superseded  # glucose-two-units, replaced by glucose-replacement
    key = ("DocumentReference", superseded[0]["id"])
    assert json.loads(written[key])["status"] == "superseded"


def test_bad_documents_are_counted_by_reason_like_crbio_convert(both: dict[str, Any]) -> None:
    spark_report, cli_report = both["spark"].stderr, both["cli"].stderr
    assert rejected(spark_report) == rejected(cli_report)
    reasons = {reason.partition(":")[0] for _, reason in rejected(spark_report)}
    assert {"malformed-xml", "unsafe-xml", "too-large"} <= reasons
    assert figures(spark_report) == figures(cli_report)
    converted = re.search(r"(\d+) document\(s\) converted", flat(spark_report))
    assert converted and converted.group(1) == re.search(
        r"(\d+) document\(s\) converted", flat(cli_report)
    ).group(1)  # type: ignore[union-attr]


def test_parquet_partitioned_by_type_reads_back(spark: Any, tmp_path: Path) -> None:
    report = run(
        spark, [str(EXAMPLES)], str(tmp_path / "parquet"), output_format=OutputFormat.parquet
    )
    assert not report.rejected
    assert {p.name for p in (tmp_path / "parquet").iterdir()} >= {
        "resource_type=Patient",
        "resource_type=Observation",
        "_SUCCESS",
    }
    rows = spark.read.parquet(str(tmp_path / "parquet")).collect()
    assert {"resource_type", "id", "patient", "document", "document_time", "json"} <= set(
        rows[0].asDict()
    )
    cli = crbio("convert", EXAMPLES, "-o", tmp_path / "cli", "--format", "ndjson")
    assert cli.exit_code == 0, cli.output
    expected = cli_lines(tmp_path / "cli")
    assert {(r.resource_type, r.id): r.json.encode() for r in rows} == expected
    for row in rows:
        resource = json.loads(row.json)
        if row.resource_type in ("Observation", "DiagnosticReport", "Specimen"):
            assert row.patient == resource["subject"]["reference"]
        if row.resource_type == "Patient":
            assert row.patient == f"Patient/{row.id}"
        if row.resource_type in ("Organization", "Practitioner"):
            assert row.patient is None
    assert report.published.replaced == 1
    assert sum(report.published.resources.values()) == len(rows)

"""`crbio convert`: outputs, NDJSON, issues, parallel runs, exit codes and the summary.

Most tests go through `typer.testing.CliRunner` (stdout and stderr are captured
separately); the parallel run and the exit codes also run the installed console
script in a real subprocess. Inputs are copies of the project's example documents.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bridge.cli.main import app
from bridge.mapping import convert, dumps
from tests.helpers import EXAMPLES

CRBIO = Path(sys.executable).parent / "crbio"

GLUCOSE = "glucose-two-units.xml"
HAEMOGRAM = "haemogram-battery.xml"
TROD = "trod-covid.xml"

# The documents of the `archive` fixture: output name → example copied there.
# sub/glucose-two-units.xml is the TROD report under the same file name as the glucose one.
ARCHIVE = {
    "glucose-two-units": GLUCOSE,
    "haemogram-battery": HAEMOGRAM,
    "sub/glucose-two-units": TROD,
}


# Helpers ------------------------------------------------------------------------


def crbio(*args: str | Path) -> Result:
    """Run `crbio …` in-process (paths given relative to the current directory)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def crbio_process(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed console script in a real subprocess."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [str(CRBIO), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def flat(text: str) -> str:
    """Text with every run of white space as one space (rich wraps the summary lines)."""
    return " ".join(text.split())


def expected_counts(*names: str) -> Counter[str]:
    """Resources by type that converting these examples gives."""
    counts: Counter[str] = Counter()
    for name in names:
        counts.update(convert((EXAMPLES / name).read_bytes()).counts)
    return counts


def expected_ids(*names: str) -> Counter[str]:
    """Distinct resource ids by type that converting these examples gives (NDJSON writes
    each id once)."""
    keys = {
        (r["resourceType"], r["id"])
        for name in names
        for r in convert((EXAMPLES / name).read_bytes()).resources()
    }
    return Counter(kind for kind, _ in keys)


def summary_table(stderr: str) -> dict[str, int]:
    """The rows "│ name │ count │" and "│ name │ severity │ count │" of the summary tables."""
    return {
        name: int(count)
        for name, count in re.findall(
            r"│\s*(\S+)\s*│(?:\s*(?:warning|information|error)\s*│)?\s*(\d+)\s*│", stderr
        )
    }


def ndjson_lines(data: str | bytes) -> list[dict[str, Any]]:
    lines = data.splitlines()
    assert lines and all(lines), "NDJSON has no blank lines"
    return [json.loads(line) for line in lines]


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below `folder`, by relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_transaction_bundle(bundle: dict[str, Any]) -> None:
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction"
    assert bundle["entry"]


def report_code(bundle: dict[str, Any]) -> str:
    [report] = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    ]
    return report["code"]["coding"][0]["code"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in its own temporary directory (short relative paths in messages)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """in/ with three reports, two of them named glucose-two-units.xml (one in sub/)."""
    folder = tmp_path / "in"
    for name, example in ARCHIVE.items():
        target = folder / f"{name}.xml"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLES / example, target)
    return folder


@pytest.fixture
def archive_with_rejects(archive: Path) -> Path:
    """The archive plus a malformed XML file and a consultation note (not CR-BIO)."""
    (archive / "broken.xml").write_bytes(b'<?xml version="1.0"?>\n<a>\n  <b attr=x/>\n</a>\n')
    text = (EXAMPLES / GLUCOSE).read_text(encoding="utf-8")
    assert text.count('code="11502-2"') == 1
    (archive / "sub" / "consult.xml").write_text(
        text.replace('code="11502-2"', 'code="11488-4"'), encoding="utf-8"
    )
    return archive


# One document ----------------------------------------------------------------------


def test_single_file_goes_to_stdout(archive: Path) -> None:
    result = crbio("convert", "in/haemogram-battery.xml")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1  # one Bundle, one line, nothing else
    bundle = json.loads(result.stdout)
    assert_transaction_bundle(bundle)
    assert Counter(e["resource"]["resourceType"] for e in bundle["entry"]) == expected_counts(
        HAEMOGRAM
    )
    assert "1 document(s) converted" in flat(result.stderr)


def test_single_file_with_out_goes_to_that_file(archive: Path, tmp_path: Path) -> None:
    result = crbio("convert", "in/haemogram-battery.xml", "-o", "result/out.json")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    written = (tmp_path / "result" / "out.json").read_bytes()
    assert written == dumps(convert((EXAMPLES / HAEMOGRAM).read_bytes()).bundle) + b"\n"
    assert_transaction_bundle(json.loads(written))


def test_pretty_indents_the_bundle(archive: Path, tmp_path: Path) -> None:
    assert crbio("convert", "in/haemogram-battery.xml", "-o", "plain.json").exit_code == 0
    assert (
        crbio("convert", "in/haemogram-battery.xml", "-o", "pretty.json", "--pretty").exit_code == 0
    )
    plain = (tmp_path / "plain.json").read_text()
    pretty = (tmp_path / "pretty.json").read_text()
    assert plain.count("\n") == 1
    assert pretty.startswith('{\n  "resourceType": "Bundle"')
    assert pretty.count("\n") > 100
    assert json.loads(pretty) == json.loads(plain)


# Directories -------------------------------------------------------------------------


def test_directory_gives_one_bundle_per_document_keeping_subfolders(
    archive: Path,
    tmp_path: Path,
) -> None:
    result = crbio("convert", "in", "-o", "out")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    written = tree(tmp_path / "out")
    assert set(written) == {f"{name}.json" for name in ARCHIVE}
    for name, example in ARCHIVE.items():
        bundle = json.loads(written[f"{name}.json"])
        assert_transaction_bundle(bundle)
        assert (
            written[f"{name}.json"]
            == dumps(convert((EXAMPLES / example).read_bytes()).bundle) + b"\n"
        )
    # same file name, two documents: neither overwrote the other
    assert report_code(json.loads(written["glucose-two-units.json"])) == "11502-2"
    assert report_code(json.loads(written["sub/glucose-two-units.json"])) == "96173-0"


def test_ndjson_directory_has_one_file_per_resource_type(archive: Path, tmp_path: Path) -> None:
    result = crbio("convert", "in", "--format", "ndjson", "-o", "bulk")
    assert result.exit_code == 0, result.output
    written = tree(tmp_path / "bulk")
    counts = expected_ids(*ARCHIVE.values())
    assert set(written) == {f"{kind}.ndjson" for kind in counts}
    for file_name, data in written.items():
        kind = file_name.removesuffix(".ndjson")
        resources = ndjson_lines(data)
        assert {r["resourceType"] for r in resources} == {kind}
        assert len(resources) == counts[kind]


def test_ndjson_without_out_goes_to_stdout(archive: Path) -> None:
    result = crbio("convert", "in", "--format", "ndjson")
    assert result.exit_code == 0, result.output
    resources = ndjson_lines(result.stdout)
    assert Counter(r["resourceType"] for r in resources) == expected_ids(*ARCHIVE.values())


def test_ndjson_to_one_named_file(archive: Path, tmp_path: Path) -> None:
    result = crbio("convert", "in", "--format", "ndjson", "-o", "all.ndjson")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    resources = ndjson_lines((tmp_path / "all.ndjson").read_bytes())
    assert Counter(r["resourceType"] for r in resources) == expected_ids(*ARCHIVE.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.ndjson", "in"]


def test_issues_file_has_one_line_per_issue(archive: Path, tmp_path: Path) -> None:
    text = (EXAMPLES / GLUCOSE).read_text(encoding="utf-8")
    assert text.count('value="0.95" unit="g/L"') == 1
    (archive / "comma.xml").write_text(
        text.replace('value="0.95" unit="g/L"', 'value="0,95" unit="g/L"'), encoding="utf-8"
    )
    expected = convert((archive / "comma.xml").read_bytes()).issues
    assert expected

    result = crbio("convert", "in", "-o", "out", "--issues", "issues.ndjson")
    assert result.exit_code == 0, result.output
    issues = ndjson_lines((tmp_path / "issues.ndjson").read_bytes())
    assert len(issues) == len(expected)  # the example reports have no issue of their own
    for issue in issues:
        assert {"document", "severity", "code", "location", "message"} <= set(issue)
        assert issue["document"] == "in/comma.xml"
    [comma] = [i for i in issues if i["code"] == "decimal-comma"]
    assert comma["severity"] == "warning"
    assert comma["location"].startswith("/ClinicalDocument/component/structuredBody/")
    assert comma["location"].endswith("/observation/value/@value")
    assert "0,95" in comma["message"]
    assert "decimal-comma" in summary_table(result.stderr)


def test_no_part_files_remain(archive_with_rejects: Path, tmp_path: Path) -> None:
    assert crbio("convert", "in", "-o", "out").exit_code == 1
    assert crbio("convert", "in", "--format", "ndjson", "-o", "bulk").exit_code == 1
    assert crbio("convert", "in", "--format", "ndjson", "-o", "all.ndjson").exit_code == 1
    assert tree(tmp_path / "out") and tree(tmp_path / "bulk")
    assert (tmp_path / "all.ndjson").is_file()
    assert not list(tmp_path.rglob("*.part"))


# Parallel runs (real subprocesses) ------------------------------------------------------


@pytest.mark.parametrize("output_format", ["bundle", "ndjson"])
def test_two_jobs_give_the_same_files_as_one(
    archive_with_rejects: Path, tmp_path: Path, output_format: str
) -> None:
    runs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}"
        process = crbio_process(
            "convert",
            "in",
            "-o",
            out,
            "--format",
            output_format,
            "--jobs",
            jobs,
            "--issues",
            f"issues-{jobs}.ndjson",
            cwd=tmp_path,
        )
        assert process.returncode == 1, process.stderr  # the two rejected files
        runs[jobs] = (tree(out), (tmp_path / f"issues-{jobs}.ndjson").read_bytes())
    assert runs["1"][0]
    assert runs["2"] == runs["1"]  # byte for byte, files and issues


# Exit codes and the summary --------------------------------------------------------------


def test_rejected_documents_exit_1_and_the_rest_is_written(
    archive_with_rejects: Path,
    tmp_path: Path,
) -> None:
    result = crbio("convert", "in", "-o", "out")
    assert result.exit_code == 1
    assert set(tree(tmp_path / "out")) == {f"{name}.json" for name in ARCHIVE}
    summary = flat(result.stderr)
    assert "rejected in/broken.xml: malformed-xml:" in summary
    assert "line 3, column 11" in summary  # where the unquoted value starts
    assert "rejected in/sub/consult.xml: unsupported-document:" in summary
    assert "11488-4" in summary
    assert "3 document(s) converted" in summary and "2 rejected" in summary


def test_console_script_exit_codes(archive_with_rejects: Path, tmp_path: Path) -> None:
    ok = crbio_process("convert", "in/haemogram-battery.xml", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert_transaction_bundle(json.loads(ok.stdout))

    rejected = crbio_process("convert", "in", "-o", "out", cwd=tmp_path)
    assert rejected.returncode == 1, rejected.stderr
    assert "malformed-xml" in rejected.stderr and "in/broken.xml" in rejected.stderr
    assert (tmp_path / "out" / "haemogram-battery.json").is_file()

    usage = crbio_process("convert", "in", "--format", "xml", cwd=tmp_path)
    assert usage.returncode == 2
    assert "--format" in usage.stderr


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["convert", "missing.xml"], "missing.xml"),
        (["convert"], "Missing argument"),
        (["convert", "in/haemogram-battery.xml", "--format", "xml"], "--format"),
        (["convert", "in"], "-o"),
        (["convert", "in/glucose-two-units.xml", "in/haemogram-battery.xml"], "-o"),
        (["convert", "in", "-o", "x.json"], ".json"),
    ],
    ids=[
        "missing-path",
        "no-path",
        "unknown-format",
        "directory-without-out",
        "two-files-without-out",
        "json-file-for-several",
    ],
)
def test_usage_errors_exit_2_and_write_nothing(
    archive: Path, tmp_path: Path, args: list[str], complaint: str
) -> None:
    result = crbio(*args)
    assert result.exit_code == 2, result.output
    assert complaint in flat(result.stderr)
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no x.json, nothing


def test_summary_reports_documents_resources_warnings_and_rejected(
    archive_with_rejects: Path,
) -> None:
    text = (EXAMPLES / GLUCOSE).read_text(encoding="utf-8")
    (archive_with_rejects / "unit.xml").write_text(
        text.replace('value="0.95" unit="g/L"', 'value="0,95" unit="unités/L"'), encoding="utf-8"
    )
    counts = expected_counts(*ARCHIVE.values(), GLUCOSE)

    result = crbio("convert", "in", "-o", "out")
    assert result.exit_code == 1
    summary = flat(result.stderr)
    assert (
        f"4 document(s) converted, {sum(counts.values())} resources, "
        "2 warning(s), 0 note(s), 2 rejected"
    ) in summary
    rows = summary_table(result.stderr)
    assert {kind: rows[kind] for kind in counts} == dict(counts)
    assert rows["decimal-comma"] == 1 and rows["unit-not-ucum"] == 1

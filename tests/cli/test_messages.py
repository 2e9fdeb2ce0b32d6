"""What the command line says when something is wrong (issue 8, item 14), per class of case.

Exit 2 for a usage error (argument, option, BRIDGE_* variable), 1 for a failure; the
message on standard error names the file or value and says what to do; never a
traceback; nothing created that the user did not ask for (no ./data store by surprise).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bridge.cli import main as cli_main
from bridge.cli.main import app
from tests.helpers import EXAMPLES
from tests.serving import free_port
from tests.terminology.test_jdv import workbook

CRBIO = Path(sys.executable).parent / "crbio"
TRACEBACK = "Traceback (most recent call last)"


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in an empty directory, without any BRIDGE_* variable."""
    for name in list(os.environ):
        if name.startswith("BRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BRIDGE_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def crbio(*args: str | Path, **env: str) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **env})


def flat(text: str) -> str:
    """Text without rich's panel borders and line breaks."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def created(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def assert_usage_error(result: Result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert TRACEBACK not in result.output
    for word in words:
        assert word in flat(result.stderr), result.stderr


def assert_failure(result: Result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    assert TRACEBACK not in result.output
    for word in words:
        assert word in flat(result.stderr), result.stderr


# terminology import-jdv ------------------------------------------------------------------


def test_import_jdv_of_a_text_file_says_it_is_no_workbook(elsewhere: Path) -> None:
    (elsewhere / "notes.txt").write_text("a note\n")
    result = crbio("terminology", "import-jdv", "notes.txt")
    assert_failure(result, "jdv-format", "notes.txt is not an Excel workbook (.xlsx)", "save")
    assert created(elsewhere) == ["notes.txt"]  # no store made for nothing


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"not a zip", "fake.xlsx"), (b"PK\x05\x06" + b"\0" * 18, "empty.xlsx")],
    ids=["not-a-zip", "empty-zip"],
)
def test_import_jdv_of_a_broken_workbook_names_it(
    elsewhere: Path, content: bytes, name: str
) -> None:
    (elsewhere / name).write_bytes(content)
    assert_failure(crbio("terminology", "import-jdv", name), name, "is not an Excel workbook")


@pytest.mark.parametrize("path", ["missing.xlsx", "."], ids=["missing", "directory"])
def test_import_jdv_of_no_file_is_a_usage_error(path: str) -> None:
    assert_usage_error(crbio("terminology", "import-jdv", path), "workbook")


def test_a_writing_command_says_where_it_created_the_store(elsewhere: Path) -> None:
    result = crbio("terminology", "import-jdv", workbook(elsewhere / "jdv.xlsx"), "--version", "v")
    assert result.exit_code == 0, result.output
    store = elsewhere / "data" / "crbio.sqlite3"
    assert store.is_file()
    assert f"created a new store: the SQLite file {store}" in flat(result.stderr)
    assert "BRIDGE_DATABASE_URL" in result.stderr


# crbio serve -----------------------------------------------------------------------------


def test_serve_ingesting_a_missing_folder_is_a_usage_error(elsewhere: Path) -> None:
    result = crbio("serve", "--ingest", "missing/")
    assert_usage_error(result, "--ingest", "missing")
    assert created(elsewhere) == []


def test_serve_on_a_busy_port_fails_before_ingesting(elsewhere: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = crbio("serve", "--port", str(port), "--ingest", EXAMPLES)
    assert_failure(result, f"cannot listen on 127.0.0.1:{port}", "--port")
    assert "ingested" not in result.stderr


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_serve_on_an_impossible_port_is_a_usage_error(port: str) -> None:
    assert_usage_error(crbio("serve", "--port", port), "--port")


def test_serve_with_a_malformed_variable_names_it() -> None:
    entry = f"lab:{'0' * 64}:admin"
    result = crbio("serve", BRIDGE_API_KEYS=entry)
    assert_usage_error(result, "BRIDGE_API_KEYS", "'admin'", "read and write")


# crbio hash-key --------------------------------------------------------------------------


@pytest.mark.parametrize("scopes", ["admin", "read+admin", "", "read,write"])
def test_hash_key_refuses_scopes_the_server_does_not_know(scopes: str) -> None:
    result = crbio("hash-key", "lab", "--scopes", scopes)
    assert_usage_error(result, "--scopes", "read and write")
    assert result.stdout == ""  # no key made


@pytest.mark.parametrize(("scopes", "entry"), [("read", "read"), ("write+read", "read+write")])
def test_hash_key_writes_the_scopes_as_the_server_reads_them(scopes: str, entry: str) -> None:
    result = crbio("hash-key", "lab", "--scopes", scopes)
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(f":{entry}")


@pytest.mark.parametrize("name", ["a:b", "a,b", " lab", ""])
def test_hash_key_refuses_a_name_that_breaks_the_entry(name: str) -> None:
    assert_usage_error(crbio("hash-key", name), "NAME")


# Where the store is ----------------------------------------------------------------------


def test_convert_with_terminology_and_no_store_says_where_it_looked(elsewhere: Path) -> None:
    result = crbio("convert", EXAMPLES / "trod-covid.xml", "--terminology")
    expected = elsewhere / "data" / "crbio.sqlite3"
    assert_usage_error(result, "--terminology", f"no store at the SQLite file {expected}")
    assert "BRIDGE_DATABASE_URL" in result.stderr
    assert created(elsewhere) == []  # no ./data made


def test_terminology_look_ups_without_a_store_answer_from_the_seed(elsewhere: Path) -> None:
    result = crbio("terminology", "translate", "--code", "40193-5")
    assert result.exit_code == 0, result.output
    assert "53049-3" in result.stdout
    assert "no store at the SQLite file" in flat(result.stderr) and "seed" in result.stderr
    assert crbio("terminology", "versions").stdout.split() == ["seed"]
    assert created(elsewhere) == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BRIDGE_DATABASE_URL", "mysql://localhost/crbio"),
        ("BRIDGE_SMT_TIMEOUT", "soon"),
        ("BRIDGE_MAX_DOCUMENT_BYTES", "50MB"),
        # found by a review: read as given, then every request timed out or was refused
        ("BRIDGE_SMT_TIMEOUT", "-1"),
        ("BRIDGE_OIDC_TIMEOUT", "0"),
        ("BRIDGE_STATEMENT_TIMEOUT", "nan"),
        ("BRIDGE_MAX_DOCUMENT_BYTES", "-5"),
        ("BRIDGE_EXPORT_RETENTION", "inf"),
        # and a flag that is neither on nor off was silently off
        ("BRIDGE_OFFLINE", "perhaps"),
        ("BRIDGE_FORWARD_WORKER", "disabled"),
    ],
)
def test_a_malformed_variable_is_a_usage_error_naming_it(variable: str, value: str) -> None:
    result = crbio("terminology", "versions", **{variable: value})
    assert_usage_error(result, variable, value)


def test_an_unreachable_postgresql_store_fails_at_once_with_the_reason() -> None:
    url = f"postgresql://crbio:secret@127.0.0.1:{free_port()}/crbio"
    result = crbio("terminology", "versions", BRIDGE_DATABASE_URL=url)
    assert_failure(result, "cannot reach PostgreSQL crbio@127.0.0.1")
    assert "secret" not in result.output


# terminology translate and sync ----------------------------------------------------------


def test_translate_without_correspondence_gives_the_jdv_comparability_level() -> None:
    result = crbio("terminology", "translate", "--code", "11580-8")
    assert result.exit_code == 1, result.output
    said = flat(result.stdout)
    assert "no match for http://loinc.org|11580-8" in said
    assert "no correspondence in the JDV Circuit de la biologie (version seed)" in said
    assert "comparability level is 2 (not comparable)" in said


def test_sync_errors_name_the_value_set_and_the_url_called() -> None:
    base = f"http://127.0.0.1:{free_port()}/fhir"
    value_set = (
        "https://smt.esante.gouv.fr/fhir/ValueSet/jdv-hl7-v3-ObservationInterpretation-cisis"
    )
    result = crbio(
        "terminology",
        "sync",
        "--value-set",
        value_set,
        BRIDGE_SMT_URL=base,
        BRIDGE_OFFLINE="",
        BRIDGE_DATABASE_URL="sqlite:///store.sqlite3",
    )
    assert_failure(result, f"value set {value_set}", f"{base}/ValueSet/$expand", "refused")
    assert "ssl:default" not in result.stderr


def test_sync_while_offline_says_which_variable_stops_it() -> None:
    assert_failure(crbio("terminology", "sync"), "BRIDGE_OFFLINE")


def test_sync_of_a_value_set_that_is_no_url_is_a_usage_error() -> None:
    assert_usage_error(crbio("terminology", "sync", "--value-set", "interpretation"), "--value-set")


# crbio convert: inputs and outputs --------------------------------------------------------


def test_convert_to_an_ndjson_name_writes_ndjson_not_a_folder_of_bundles(elsewhere: Path) -> None:
    for name in ("all.ndjson", "all.jsonl"):
        result = crbio("convert", EXAMPLES, "-o", name)
        assert result.exit_code == 0, result.output
        assert (elsewhere / name).is_file()
        first = (elsewhere / name).read_bytes().split(b"\n", 1)[0]
        assert b'"resourceType":"Bundle"' not in first


def test_convert_bundles_to_an_ndjson_name_is_a_usage_error(elsewhere: Path) -> None:
    result = crbio("convert", EXAMPLES, "-o", "all.ndjson", "--format", "bundle")
    assert_usage_error(result, "-o", "--format ndjson")
    assert created(elsewhere) == []


def test_issues_to_dash_go_to_standard_output(elsewhere: Path) -> None:
    result = crbio("convert", EXAMPLES, "-o", "out", "--issues", "-")
    assert result.exit_code == 0, result.output
    assert '"code":"unknown-value-type"' in result.stdout
    assert not (elsewhere / "-").exists()


def test_issues_to_dash_with_the_output_on_standard_output_is_a_usage_error() -> None:
    result = crbio("convert", EXAMPLES, "--format", "ndjson", "--issues", "-")
    assert_usage_error(result, "--issues", "standard output")


def test_dash_reads_standard_input_and_writes_standard_output(elsewhere: Path) -> None:
    source = (EXAMPLES / "trod-covid.xml").read_bytes()
    result = CliRunner().invoke(app, ["convert", "-", "-o", "-"], input=source)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith('{"resourceType":"Bundle"')
    assert created(elsewhere) == []


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["missing.xml"], "no such file or directory: missing.xml"),
        (["-", "in"], "standard input"),
        (["empty"], "no *.xml file in empty"),
        (["in", "-o", "taken.txt"], "taken.txt exists and is not a directory"),
        (["in/a/report.xml", "-o", "folder.json"], "folder.json is a directory"),
        (["in/a/report.xml", "in/b/report.xml", "-o", "out"], "would both be written"),
        (["in", "--issues", "folder.json", "-o", "out"], "folder.json is a directory"),
        (["in", "--format", "xml"], "--format"),
        (["in", "--jobs", "0"], "--jobs"),
    ],
    ids=[
        "missing",
        "stdin-and-files",
        "empty-folder",
        "out-is-a-file",
        "json-is-a-folder",
        "same-output-name",
        "issues-is-a-folder",
        "unknown-format",
        "no-jobs",
    ],
)
def test_convert_usage_errors_name_the_value_and_write_nothing(
    elsewhere: Path, args: list[str], complaint: str
) -> None:
    for folder in ("a", "b"):
        (elsewhere / "in" / folder).mkdir(parents=True)
        (elsewhere / "in" / folder / "report.xml").write_bytes(
            (EXAMPLES / "trod-covid.xml").read_bytes()
        )
    (elsewhere / "empty").mkdir()
    (elsewhere / "taken.txt").write_text("")
    (elsewhere / "folder.json").mkdir()
    before = created(elsewhere)
    assert_usage_error(crbio("convert", *args), complaint)
    assert created(elsewhere) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_convert_of_an_unreadable_file_is_a_usage_error(elsewhere: Path) -> None:
    secret = elsewhere / "secret.xml"
    secret.write_bytes(b"<x/>")
    secret.chmod(0)
    assert_usage_error(crbio("convert", secret), "permission denied")


def test_a_malformed_document_gives_one_line_and_column(elsewhere: Path) -> None:
    (elsewhere / "broken.xml").write_bytes(b'<?xml version="1.0"?>\n<a>\n  <b>\n</a>\n')
    result = crbio("convert", "broken.xml")
    assert_failure(result, "rejected broken.xml: malformed-xml:")
    [message] = [line for line in result.stderr.splitlines() if "broken.xml" in line]
    assert re.findall(r"line \d+", message) == ["line 4"]
    assert "line 4, column 5: end tag </a> does not close <b>" in message


def test_file_names_are_printed_as_they_are(elsewhere: Path) -> None:
    (elsewhere / "[bold]x.xml").write_bytes(b"<x")
    result = crbio("convert", "[bold]x.xml")
    assert_failure(result, "rejected [bold]x.xml: malformed-xml")


# The console script ----------------------------------------------------------------------


def test_a_closed_pipe_ends_quietly(elsewhere: Path) -> None:
    pipeline = subprocess.run(
        f"'{CRBIO}' convert '{EXAMPLES}' --format ndjson | head -c 10",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert pipeline.stdout == '{"resource'
    assert TRACEBACK not in pipeline.stderr and "Error" not in pipeline.stderr


def test_a_bug_is_one_line_asking_for_a_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(**_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli_main, "app", broken)
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    assert exited.value.code == 1
    stderr = flat(capsys.readouterr().err)
    assert "internal error (please report it" in stderr and "RuntimeError: a bug" in stderr
    assert TRACEBACK not in stderr

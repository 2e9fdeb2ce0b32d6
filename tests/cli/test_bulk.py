"""`crbio convert --format ndjson` as a bulk tool: usable references, one line per id, the
newest version, `--resume` after a kill, the same output whatever `--jobs`.

Trees are small (the examples, variants of one example with new ids and times); the
10k-document measurement is `make bench-bulk`.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bridge.cli.main import app
from bridge.errors import DocumentError
from bridge.export import identifier_key
from bridge.mapping import convert
from bridge.store.documents import replaced_identifiers, report_resources, source_documents
from tests.export.documents import read_directory, read_ndjson, references, variant
from tests.helpers import CORPUS, EXAMPLES, corpus_files

# References the converter leaves outside the output on purpose (none today: a logical
# reference by identifier, like replaces-report, carries no `reference`).
EXTERNAL: set[str] = set()


def retracted(folder: Path) -> set[str]:
    """`Type/id` of the report resources of replaced documents: left out of the NDJSON as
    a store deletes them, so the replaced document's own DocumentReference and Provenance
    point to them as they point to deleted resources in a store."""
    conversions = []
    for path in sorted(folder.glob("*.xml")):
        try:
            conversions.append(convert(path.read_bytes()).bundle)
        except DocumentError:
            continue
    replaced = {
        identifier_key(i) for b in conversions for i in replaced_identifiers(source_documents(b))
    }
    return {
        f"{kind}/{resource_id}"
        for bundle in conversions
        if {identifier_key(d["masterIdentifier"]) for d in source_documents(bundle)} & replaced
        for kind, resource_id in report_resources(bundle)
    }


def crbio(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_usable(
    resources: dict[tuple[str, str], dict[str, Any]], left_out: set[str] = EXTERNAL
) -> None:
    """No urn:uuid reference; every Type/id reference is a line of the output (but the
    references the converter leaves external and the report resources `left_out`)."""
    for (kind, _), resource in resources.items():
        contained = {f"#{c['id']}" for c in resource.get("contained", ())}
        for reference in references(resource):
            assert not reference.startswith("urn:"), f"{kind} → {reference}"
            if reference.startswith("#"):
                assert reference in contained
            elif reference not in EXTERNAL | left_out:
                target = tuple(reference.split("/", 1))
                assert target in resources, f"{kind} → {reference} has no line"


@pytest.mark.parametrize("source", ["examples", "corpus"])
def test_ndjson_references_resolve_to_lines_one_line_per_id(tmp_path: Path, source: str) -> None:
    if source == "corpus" and not corpus_files():
        pytest.skip(f"ANS corpus not found at {CORPUS}")
    folder = EXAMPLES if source == "examples" else CORPUS
    result = crbio("convert", folder, "-o", "bulk", "--format", "ndjson")
    assert result.exit_code in (0, 1), result.output  # the corpus has refused documents
    resources = read_directory(tmp_path / "bulk")  # fails on an id written twice
    assert resources
    left_out = retracted(folder)
    assert_usable(resources, left_out)
    assert not {tuple(key.split("/")) for key in left_out} & set(resources)
    assert not (tmp_path / "bulk" / ".crbio-convert").exists()


def test_one_ndjson_file_for_several_inputs_without_format(tmp_path: Path) -> None:
    result = crbio("convert", EXAMPLES, "-o", "all.ndjson")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.ndjson"]
    resources = read_ndjson((tmp_path / "all.ndjson").read_bytes())
    assert_usable(resources, retracted(EXAMPLES))
    kinds = [kind for kind, _ in resources]
    assert kinds == sorted(kinds)  # every type after the other, in one file
    summary = flat(result.stderr)
    assert "duplicate version(s) merged" in summary
    assert "3 resource(s) of 1 replaced report(s) left out" in summary


def write_tree(folder: Path, names_and_documents: list[tuple[str, bytes]]) -> None:
    for name, data in names_and_documents:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


@pytest.mark.parametrize("newest_first", [True, False])
def test_the_newest_documents_patient_wins_whatever_the_file_order(
    tmp_path: Path, newest_first: bool
) -> None:
    newest = variant(1, time="20250601090000+0200", family="NOUVEAU")
    older = variant(2, time="20240101090000+0100", family="ANCIEN")
    first, second = (newest, older) if newest_first else (older, newest)
    write_tree(tmp_path / "in", [("a.xml", first), ("b.xml", second)])
    result = crbio("convert", "in", "-o", "out.ndjson")
    assert result.exit_code == 0, result.output
    patients = [
        r for (kind, _), r in read_ndjson((tmp_path / "out.ndjson").read_bytes()).items()
        if kind == "Patient"
    ]  # fmt: skip
    assert [p["name"][0]["family"] for p in patients] == ["NOUVEAU"]


def tree_of_variants(folder: Path, count: int) -> None:
    """`count` documents of one patient, each its own id and time, in two folders."""
    write_tree(
        folder,
        [
            (f"{n % 2}/doc-{n:03d}.xml", variant(n, time=f"2024{1 + n % 12:02d}{1 + n % 28:02d}"
             f"0{n % 10}0000+0100", family=f"NOM{n}"))
            for n in range(count)
        ],
    )  # fmt: skip


# --resume ------------------------------------------------------------------------------

COMMIT_EACH_DOCUMENT = (
    "import bridge.export.manifest as m; m.COMMIT_EVERY = 0; "
    "from bridge.cli.main import main; main()"
)


def convert_process(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    """`crbio convert …` in a subprocess whose manifest commits after every document."""
    return subprocess.Popen(
        [sys.executable, "-c", COMMIT_EACH_DOCUMENT, "convert", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


def recorded(manifest: Path) -> int:
    try:
        with sqlite3.connect(f"file:{manifest}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT count(*) FROM document").fetchone()[0])
    except sqlite3.Error:
        return 0


def output(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_resume_after_a_kill_gives_the_same_files_as_one_run(tmp_path: Path) -> None:
    tree_of_variants(tmp_path / "in", 24)
    shutil.copy(EXAMPLES / "glucose-replacement.xml", tmp_path / "in" / "replacement.xml")
    one = convert_process("in", "-o", "one", "--format", "ndjson", "--jobs", "1", cwd=tmp_path)
    code, stderr = finish(one)
    assert code == 0, stderr

    killed = convert_process("in", "-o", "out", "--format", "ndjson", "-j", "1", cwd=tmp_path)
    manifest = tmp_path / "out" / ".crbio-convert" / "manifest.sqlite3"
    deadline = time.monotonic() + 120
    while recorded(manifest) < 5 and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    assert finish(killed)[0] == -signal.SIGKILL, "the run ended before it could be killed"
    done = recorded(manifest)
    assert 5 <= done < 25
    # a kill in the middle of a line: the staged file ends with half a resource
    with (manifest.parent / "streams" / "Observation.ndjson").open("ab") as torn:
        torn.write(b'{"resourceType":"Observation","id":"to')

    resumed = crbio("convert", "in", "-o", "out", "--format", "ndjson", "--jobs", "1", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert f"{done} document(s) converted by the interrupted run" in flat(resumed.stderr)
    assert "25 document(s) converted" in flat(resumed.stderr)
    assert output(tmp_path / "out") == output(tmp_path / "one")
    read_directory(tmp_path / "out")  # one line per id, every line whole
    assert not manifest.parent.exists()


def test_a_new_run_discards_an_interrupted_one_and_says_so(tmp_path: Path) -> None:
    tree_of_variants(tmp_path / "in", 3)
    state = tmp_path / "out" / ".crbio-convert"
    state.mkdir(parents=True)
    (state / "manifest.sqlite3").write_bytes(b"")
    result = crbio("convert", "in", "-o", "out", "--format", "ndjson")
    assert result.exit_code == 0, result.output
    assert "interrupted run's state was discarded (--resume continues one)" in flat(result.stderr)
    assert not state.exists()


def test_resume_with_other_options_is_a_usage_error(tmp_path: Path) -> None:
    tree_of_variants(tmp_path / "in", 3)
    # the state a killed NDJSON run leaves behind
    state = tmp_path / "out" / ".crbio-convert"
    from bridge.export import Manifest

    Manifest(state, {"format": "ndjson"}).close()
    result = crbio("convert", "in", "-o", "out", "--resume")
    assert result.exit_code == 2
    assert "--resume" in result.stderr and "format ndjson then, bundle now" in flat(result.stderr)


def test_resume_without_output_is_a_usage_error() -> None:
    result = crbio("convert", EXAMPLES / "trod-covid.xml", "--resume")
    assert result.exit_code == 2 and "--resume" in result.stderr


def test_resume_of_bundles_skips_the_documents_done(tmp_path: Path) -> None:
    tree_of_variants(tmp_path / "in", 4)
    state = tmp_path / "out" / ".crbio-convert"
    first = crbio("convert", "in", "-o", "out")
    assert first.exit_code == 0, first.output
    written = output(tmp_path / "out" / "0")
    # as if killed after two documents: their manifest rows kept, nothing else
    from bridge.cli.batch import discover
    from bridge.export import Manifest, SourceFile

    manifest = Manifest(state, bundle_options(tmp_path))
    for path, _ in list(discover([Path("in")]))[:2]:
        manifest.record(SourceFile.of(path), converted=True, summary=b"{}")
    manifest.close()
    resumed = crbio("convert", "in", "-o", "out", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "2 document(s) converted by the interrupted run" in flat(resumed.stderr)
    assert "4 document(s) converted" in flat(resumed.stderr)
    assert output(tmp_path / "out" / "0") == written


def bundle_options(tmp_path: Path) -> dict[str, str]:
    from bridge import __version__
    from bridge.cda import DEFAULT_MAX_BYTES

    return {
        "format": "bundle",
        "pretty": "False",
        "max-size": str(DEFAULT_MAX_BYTES),
        "terminology": "seed",
        "crbio": __version__,
        "output": str(tmp_path / "out"),
    }


# --jobs -------------------------------------------------------------------------------------


def test_two_jobs_give_the_same_ndjson_as_one(tmp_path: Path) -> None:
    tree_of_variants(tmp_path / "in", 4)
    shutil.copytree(EXAMPLES, tmp_path / "in" / "examples", ignore=shutil.ignore_patterns("*.json"))
    for jobs in ("1", "2"):
        process = convert_process("in", "-o", f"out-{jobs}.ndjson", "--jobs", jobs, cwd=tmp_path)
        code, stderr = finish(process)
        assert code == 0, stderr
    assert (tmp_path / "out-1.ndjson").read_bytes() == (tmp_path / "out-2.ndjson").read_bytes()


def test_ctrl_c_keeps_the_run_for_resume_and_exits_130(tmp_path: Path) -> None:
    tree_of_variants(tmp_path / "in", 16)
    process = convert_process("in", "-o", "out.ndjson", "--jobs", "2", cwd=tmp_path)
    manifest = tmp_path / ".out.ndjson.crbio-convert" / "manifest.sqlite3"
    deadline = time.monotonic() + 120
    while recorded(manifest) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    code, stderr = finish(process)
    assert code == 130, stderr
    assert "interrupted after" in flat(stderr) and "--resume continues it" in flat(stderr)
    assert "Traceback" not in stderr  # neither the main process nor a worker
    assert manifest.is_file() and not (tmp_path / "out.ndjson").exists()
    resumed = crbio("convert", "in", "-o", "out.ndjson", "--resume")
    assert resumed.exit_code == 0, resumed.output
    read_ndjson((tmp_path / "out.ndjson").read_bytes())


def test_ndjson_of_an_earlier_run_in_the_directory_is_pointed_out(tmp_path: Path) -> None:
    (tmp_path / "bulk").mkdir()
    (tmp_path / "bulk" / "Immunization.ndjson").write_text("{}\n")
    result = crbio("convert", EXAMPLES / "trod-covid.xml", "-o", "bulk", "--format", "ndjson")
    assert result.exit_code == 0, result.output
    assert "also holds Immunization.ndjson, not written by this run" in flat(result.stderr)


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in found.read_text().split()] if found.exists() else []


def _alive(pid: int) -> bool:
    """Running, or sleeping: a zombie waiting for its new parent to reap it has ended."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_workers_leave_when_the_main_process_is_killed(tmp_path: Path) -> None:
    """A run killed with SIGKILL cannot shut its pool down: its workers notice and exit,
    rather than staying blocked on a pipe nobody reads."""
    tree_of_variants(tmp_path / "in", 60)
    killed = convert_process("in", "-o", "out", "--format", "ndjson", "-j", "2", cwd=tmp_path)
    manifest = tmp_path / "out" / ".crbio-convert" / "manifest.sqlite3"
    deadline = time.monotonic() + 120
    while recorded(manifest) < 3 and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = _children(killed.pid)
    assert workers, "no pool worker found"
    killed.send_signal(signal.SIGKILL)
    assert finish(killed)[0] == -signal.SIGKILL
    deadline = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)], "workers outlived their main process"

"""`NdjsonWriter`: one line per id, the version a store keeps, resumable after a kill."""

from __future__ import annotations

import io
import itertools
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bridge.export import kept_form, newest
from bridge.export.manifest import Manifest, ResumeError, SourceFile
from bridge.export.ndjson import NdjsonWriter, Published, StagedDocument
from bridge.mapping import convert, dumps
from bridge.store import Store
from bridge.store.content import unpack
from tests.export.documents import read_directory, read_ndjson, staged, variant
from tests.export.test_flatten import without_version
from tests.helpers import example_files

OPTIONS = {"format": "ndjson"}
REFERENCE = {"resourceType": "DocumentReference", "id": "d"}


def source(name: str, data: bytes = b"", mtime: int = 0) -> SourceFile:
    return SourceFile(f"/in/{name}", len(data), mtime)


def stage(manifest: Manifest, writer: NdjsonWriter, name: str, data: bytes) -> None:
    document = manifest.record(source(name, data), converted=True)
    writer.add(document, staged(data))


def run(work: Path, documents: list[tuple[str, bytes]]) -> tuple[bytes, Published]:
    """Stage the documents in this order and publish them as one stream."""
    manifest = Manifest(work, OPTIONS)
    writer = NdjsonWriter(manifest)
    for name, data in documents:
        stage(manifest, writer, name, data)
    out = io.BytesIO()
    published = writer.publish_stream(out)
    manifest.discard()
    return out.getvalue(), published


def examples() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in example_files()]


def current_resources(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    with store.db.read() as cursor:
        cursor.execute("SELECT resource_type, id, content FROM resource WHERE NOT deleted")
        rows = cursor.fetchall()
    return {
        (kind, resource_id): without_version(json.loads(unpack(content), parse_float=Decimal))
        for kind, resource_id, content in rows
    }


# What a store keeps ---------------------------------------------------------------------


def test_the_examples_give_what_a_store_fed_them_keeps(store: Store, tmp_path: Path) -> None:
    documents = examples()
    data, published = run(tmp_path / "work", documents)
    for _, document in documents:
        store.ingest(convert(document))
    assert read_ndjson(data) == current_resources(store)
    assert published.replaced == 1  # glucose-two-units, replaced by glucose-replacement
    assert published.left_out > 0  # its report and results
    assert published.duplicates > 0  # the shared patient, laboratory, biologist…


def test_the_input_order_changes_nothing_but_the_order_of_lines(tmp_path: Path) -> None:
    documents = examples()
    forward, _ = run(tmp_path / "a", documents)
    backward, published = run(tmp_path / "b", documents[::-1])
    assert read_ndjson(forward) == read_ndjson(backward)
    assert sum(published.resources.values()) == len(read_ndjson(forward))


def test_a_replaced_documents_reference_is_superseded_and_its_report_left_out(
    tmp_path: Path,
) -> None:
    names = {"glucose-two-units.xml", "glucose-replacement.xml"}
    documents = [d for d in examples() if d[0] in names]
    resources = read_ndjson(run(tmp_path / "work", documents)[0])
    original = convert(dict(documents)["glucose-two-units.xml"])
    for resource in original.resources():
        key = (resource["resourceType"], resource["id"])
        if key[0] in ("DiagnosticReport", "Observation"):
            assert key not in resources
        elif key[0] == "DocumentReference" and "masterIdentifier" in resource:
            assert resources[key]["status"] == "superseded"
    reports = [r for (kind, _), r in resources.items() if kind == "DiagnosticReport"]
    assert len(reports) == 1 and reports[0]["status"] == "amended"


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_the_newest_documents_patient_wins_whatever_the_order(
    tmp_path: Path, order: tuple[int, ...]
) -> None:
    documents = [
        ("a.xml", variant(1, time="20240101090000+0100", family="ANCIEN")),
        ("b.xml", variant(2, time="20250601090000+0200", family="NOUVEAU")),
        ("c.xml", variant(3, time="20241001090000+0200", family="MILIEU")),
    ]
    data, published = run(tmp_path / "work", [documents[i] for i in order])
    [patient] = [r for (kind, _), r in read_ndjson(data).items() if kind == "Patient"]
    assert patient["name"][0]["family"] == "NOUVEAU"
    assert published.duplicates >= 2  # two older versions of the patient (and more)


def test_documents_of_the_same_time_are_told_apart_by_their_id(tmp_path: Path) -> None:
    same_time = "20250101090000+0100"
    documents = [
        ("x.xml", variant(7, time=same_time, family="SEPT")),
        ("y.xml", variant(8, time=same_time, family="HUIT")),
    ]
    first = read_ndjson(run(tmp_path / "a", documents)[0])
    second = read_ndjson(run(tmp_path / "b", documents[::-1])[0])
    assert first == second
    [patient] = [r for (kind, _), r in first.items() if kind == "Patient"]
    assert patient["name"][0]["family"] == "HUIT"  # …999.1.1.8 > …999.1.1.7


# The rules, against a model --------------------------------------------------------------


def model(documents: list[StagedDocument]) -> list[bytes]:
    """What the rules say, computed naively in memory with `newest` and `kept_form`."""
    own = {key: i for i, d in enumerate(documents) for key in d.identifiers}
    replaced = {
        own[key] for i, d in enumerate(documents) for key in d.replaces if own.get(key, i) != i
    }
    versions: dict[tuple[str, str], list[tuple[Any, bytes]]] = {}
    for i, document in enumerate(documents):
        for kind, resource_id, role, line in document.lines:
            version = ((i in replaced, document.precedence), role)
            versions.setdefault((kind, resource_id), []).append((version, line))
    kept = []
    for candidates in versions.values():
        best = newest([version for version, _ in candidates])
        if best is not None:
            ((is_replaced, _), role), line = candidates[best]
            kept.append(dumps(kept_form(json.loads(line), is_replaced, role)))
    return sorted(kept)


@pytest.mark.parametrize("seed", range(12))
def test_the_sql_choice_is_the_choice_of_newest(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    documents = []
    for n in range(rng.randint(1, 12)):
        lines = []
        for shared in rng.sample(range(6), rng.randint(0, 4)):  # ids several documents write
            lines.append(("Patient", f"p{shared}", None, b'{"n":%d}' % n))
        for i in range(rng.randint(0, 3)):  # the document's own report (ids may repeat)
            kind = rng.choice(["Observation", "DiagnosticReport"])
            lines.append((kind, f"r{rng.randint(0, 4)}-{i}", "report", b'{"r":%d}' % n))
        lines.append(("DocumentReference", f"d{n % 5}", "document", b'{"d":%d}' % n))
        replaces = tuple(f"id{rng.randint(0, 9)}" for _ in range(rng.randint(0, 2)))
        documents.append(
            StagedDocument(
                f"{rng.randint(0, 3):020d} doc{rng.randint(0, 2)} {n:02d}",
                (f"id{n}",),
                replaces,
                tuple({(k, i): (k, i, r, line) for k, i, r, line in lines}.values()),
            )
        )
    manifest = Manifest(tmp_path / "work", OPTIONS)
    writer = NdjsonWriter(manifest)
    for n, document in enumerate(documents):
        writer.add(manifest.record(source(f"{n}.xml"), converted=True), document)
    out = io.BytesIO()
    writer.publish_stream(out)
    manifest.discard()
    assert sorted(out.getvalue().splitlines()) == model(documents)


# Resuming ------------------------------------------------------------------------------------


def test_a_killed_run_resumed_gives_the_same_files_as_one_run(tmp_path: Path) -> None:
    documents = examples()
    one_run = tmp_path / "one"
    manifest = Manifest(tmp_path / "w1", OPTIONS)
    writer = NdjsonWriter(manifest)
    for name, data in documents:
        stage(manifest, writer, name, data)
    writer.publish_directory(one_run)
    manifest.discard()

    work = tmp_path / "w2"
    manifest = Manifest(work, OPTIONS)
    writer = NdjsonWriter(manifest)
    half = len(documents) // 2
    for name, data in documents[:half]:
        stage(manifest, writer, name, data)
    manifest.commit()
    for name, data in documents[half:-1]:  # staged, never committed: lost with the kill
        stage(manifest, writer, name, data)
    # The kill: lines written but never committed, the last one cut in the middle.
    for handle in manifest._streams.values():
        handle.close()
    manifest.db.close()  # the open transaction is lost, as with kill -9
    with (work / "streams" / "Observation.ndjson").open("ab") as torn:
        torn.write(b'{"resourceType":"Obs')

    manifest = Manifest(work, OPTIONS, resume=True)
    assert manifest.resumed == half
    writer = NdjsonWriter(manifest)
    for name, data in documents:
        if not manifest.done(source(name, data)):
            stage(manifest, writer, name, data)
    resumed = tmp_path / "resumed"
    writer.publish_directory(resumed)
    manifest.discard()
    assert {p.name: p.read_bytes() for p in resumed.iterdir()} == {
        p.name: p.read_bytes() for p in one_run.iterdir()
    }
    read_directory(resumed)  # one line per id, each whole


def test_a_changed_file_is_converted_again_and_a_removed_one_forgotten(tmp_path: Path) -> None:
    old = variant(1, time="20240101090000+0100", family="AVANT")
    new = variant(1, time="20240101090000+0100", family="APRES")
    other = variant(2, time="20230101090000+0100", family="AUTRE")
    manifest = Manifest(tmp_path / "work", OPTIONS)
    writer = NdjsonWriter(manifest)
    writer.add(manifest.record(source("a.xml", old, mtime=1), converted=True), staged(old))
    writer.add(manifest.record(source("gone.xml", other), converted=True), staged(other))
    manifest.close()

    manifest = Manifest(tmp_path / "work", OPTIONS, resume=True)
    writer = NdjsonWriter(manifest)
    assert not manifest.done(source("a.xml", new, mtime=2))
    writer.add(manifest.record(source("a.xml", new, mtime=2), converted=True), staged(new))
    assert manifest.forget_unseen() == 1  # gone.xml
    out = io.BytesIO()
    published = writer.publish_stream(out)
    manifest.discard()
    assert published.duplicates == 0
    resources = read_ndjson(out.getvalue())
    assert resources == read_ndjson(run(tmp_path / "fresh", [("a.xml", new)])[0])


def test_resuming_with_other_options_is_refused(tmp_path: Path) -> None:
    Manifest(tmp_path / "work", OPTIONS).close()
    with pytest.raises(ResumeError, match="format ndjson then, bundle now"):
        Manifest(tmp_path / "work", {"format": "bundle"}, resume=True)
    # without --resume, the earlier state is simply discarded
    fresh = Manifest(tmp_path / "work", {"format": "bundle"})
    assert fresh.interrupted and fresh.resumed == 0
    fresh.discard()


def test_a_line_keeps_its_decimals_when_superseded(tmp_path: Path) -> None:
    line = dumps({**REFERENCE, "x": Decimal("0.70")})
    document = StagedDocument(
        "0 a 0", ("old",), (), (("DocumentReference", "d", "document", line),)
    )
    replacement = StagedDocument("1 b 0", ("new",), ("old",), ())
    manifest = Manifest(tmp_path / "work", OPTIONS)
    writer = NdjsonWriter(manifest)
    writer.add(manifest.record(source("a"), converted=True), document)
    writer.add(manifest.record(source("b"), converted=True), replacement)
    out = io.BytesIO()
    writer.publish_stream(out)
    manifest.discard()
    superseded = b'{"resourceType":"DocumentReference","id":"d","x":0.70,"status":"superseded"}'
    assert out.getvalue() == superseded + b"\n"

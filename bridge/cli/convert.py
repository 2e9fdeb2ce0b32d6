"""`crbio convert`: CR-BIO documents → FHIR R4 transaction Bundles, or NDJSON.

Exit codes: 0 every document converted, 1 some document rejected (or a folder could
not be read; the report says which and why), 2 usage error (nothing was converted).

Outputs: a Bundle on standard output (one document), a `.json` file (one document),
a directory of Bundles, or NDJSON (`--format ndjson`, or an `-o` ending in `.ndjson`):
one `<Type>.ndjson` per resource type in a directory, or every type in one file or on
standard output; one line per resource id, references as `Type/id` (bridge.export).

A run keeps its manifest in a work directory beside its output (`DIR/.crbio-convert`,
`.NAME.ndjson.crbio-convert`) until it is complete: `--resume` continues a run that
was killed, skipping the documents it finished.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures.process import BrokenProcessPool
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bridge import __version__
from bridge.cda import DEFAULT_MAX_BYTES
from bridge.cli.batch import discover
from bridge.cli.bulk import BulkRun
from bridge.cli.output import Target
from bridge.cli.problems import fail, load_settings, note, usage
from bridge.cli.stores import describe, missing_store, open_for_reading
from bridge.export import Manifest, ResumeError

__all__ = ["convert"]

NDJSON_SUFFIXES = (".ndjson", ".jsonl")


class Format(StrEnum):
    bundle = "bundle"
    ndjson = "ndjson"


def convert(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH",
            help="CDA files, or folders (every *.xml below them); - reads standard input.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--out",
            help=(
                "A .json file (one document), a .ndjson file (NDJSON, every type), a "
                "directory, or - for standard output (the default for one document or NDJSON)."
            ),
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            help="bundle (a transaction Bundle per document) or ndjson; default: ndjson when "
            "-o ends in .ndjson, else bundle.",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes (default: the CPUs this process may use).",
            show_default=False,
        ),
    ] = None,
    pretty: Annotated[bool, typer.Option("--pretty", help="Indent Bundle JSON.")] = False,
    issues_path: Annotated[
        Path | None,
        typer.Option(
            "--issues",
            help="Write every warning as NDJSON (document, severity, code, location, message) "
            "to this file, or - for standard output.",
            show_default=False,
        ),
    ] = None,
    max_size: Annotated[
        int, typer.Option("--max-size", min=1, help="Refuse larger documents (bytes).")
    ] = DEFAULT_MAX_BYTES,
    terminology: Annotated[
        bool,
        typer.Option(
            "--terminology",
            help=(
                "Use the imported JDV and the value sets synchronised from the SMT, from the "
                "store of BRIDGE_DATABASE_URL, instead of the seed rows."
            ),
        ),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted run with the same output: the documents it "
            "finished are not converted again.",
        ),
    ] = False,
) -> None:
    """Convert CR-BIO / BIO-TROD documents to FHIR R4 (transaction Bundles or NDJSON).

    Exit status: 0 every document converted, 1 some rejected (the report says which and
    why), 2 usage error.
    """
    stdin = _check_inputs(paths)
    ndjson = _format(output_format, out) is Format.ndjson
    target = _target(out, ndjson)
    issues_to = _issues_target(issues_path, target)
    if resume and target.kind == "stdout":
        raise usage("needs -o FILE or -o DIRECTORY (its manifest lives beside it)", "--resume")
    _survey(paths, stdin, target, ndjson)
    database_url, store = _terminology_store() if terminology else (None, "seed")
    options = {
        "format": "ndjson" if ndjson else "bundle",
        "pretty": str(pretty and not ndjson),
        "max-size": str(max_size),
        "terminology": store,
        "crbio": __version__,
        "output": os.path.abspath(target.path) if target.path else "-",
    }
    work = target.work_directory or Path(tempfile.mkdtemp(prefix="crbio-convert-"))
    try:
        manifest = Manifest(work, options, resume=resume)
    except ResumeError as exc:
        raise usage(f"{work}: {exc}; run without --resume to start again", "--resume") from exc
    except OSError as exc:
        raise fail(f"cannot write in {work.parent}: {exc.strerror or exc}") from exc
    if manifest.interrupted and not resume:
        note(f"{work}: an interrupted run's state was discarded (--resume continues one)")
    elif resume and not manifest.interrupted:
        note(f"nothing to resume in {work}: converting everything")
    bulk = BulkRun(paths, stdin, target, ndjson, pretty, max_size, database_url, manifest, resume)
    try:
        report = bulk.convert(jobs)
        published = bulk.publish(issues_to)
    except KeyboardInterrupt:
        raise _stopped(manifest, target, "interrupted", 130) from None
    except BrokenProcessPool as exc:
        raise _stopped(manifest, target, f"a worker process died ({exc})") from exc
    except BrokenPipeError:  # the reader of standard output is gone: main() ends quietly
        _close(manifest, target)
        raise
    except OSError as exc:  # a full disk, a file made read-only under the run…
        where = f" {exc.filename}" if exc.filename else ""
        raise _stopped(manifest, target, f"cannot write{where}: {exc.strerror or exc}") from exc
    except BaseException:
        _close(manifest, target)
        raise
    final = report.completed(manifest, published)
    manifest.discard()
    final.print()
    if final.rejected or final.unlisted:
        raise typer.Exit(1)


# Arguments -------------------------------------------------------------------------------


def _check_inputs(paths: list[Path]) -> bool:
    """Whether the input is standard input; every path named exists and can be read."""
    if any(str(p) == "-" for p in paths):
        if len(paths) > 1:
            raise usage("- (standard input) is the only input when it is given", "PATH")
        return True
    for path in paths:
        if not path.exists():
            raise usage(f"no such file or directory: {path}", "PATH")
        if not (path.is_file() or path.is_dir()):
            raise usage(f"{path} is neither a file nor a directory", "PATH")
        if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
            raise usage(f"permission denied: {path}", "PATH")
    return False


def _format(chosen: Format | None, out: Path | None) -> Format:
    suffix = out.suffix.lower() if out is not None else ""
    if chosen is None:
        return Format.ndjson if suffix in NDJSON_SUFFIXES else Format.bundle
    if chosen is Format.bundle and suffix in NDJSON_SUFFIXES:
        raise usage(f"{out} is an NDJSON name: use --format ndjson, or name a directory", "-o")
    if chosen is Format.ndjson and suffix == ".json":
        raise usage(f"{out}: NDJSON goes to a .ndjson file, a directory or -", "-o")
    return chosen


def _target(out: Path | None, ndjson: bool) -> Target:
    if out is None or str(out) == "-":
        return Target("stdout")
    single = out.suffix.lower() in (NDJSON_SUFFIXES if ndjson else (".json",))
    if single:
        if out.is_dir():
            raise usage(f"{out} is a directory, not a file", "-o")
        return Target("file", out)
    if out.exists() and not out.is_dir():
        raise usage(f"{out} exists and is not a directory", "-o")
    return Target("directory", out)


def _issues_target(issues: Path | None, target: Target) -> Target | None:
    if issues is None:
        return None
    if str(issues) == "-":
        if target.kind == "stdout":
            raise usage(
                "the output already goes to standard output: give -o, or a file for --issues",
                "--issues",
            )
        return Target("stdout")
    if issues.is_dir():
        raise usage(f"{issues} is a directory, not a file", "--issues")
    return Target("file", issues)


def _survey(paths: list[Path], stdin: bool, target: Target, ndjson: bool) -> None:
    """Refuse, before anything is written, what cannot be done: no document found,
    several documents for one Bundle, two documents for the same output file."""
    if stdin:
        return
    total = 0
    names: dict[str, Path] = {}
    for path, name in discover(paths):
        total += 1
        if target.kind == "directory" and not ndjson:
            if name in names:
                raise usage(
                    f"{names[name]} and {path} would both be written to {target.path}/"
                    f"{name}.json: convert them separately, or name the folder holding both",
                    "PATH",
                )
            names[name] = path
    if total == 0:
        raise usage(f"no *.xml file in {', '.join(str(p) for p in paths)}", "PATH")
    many = total > 1 or any(p.is_dir() for p in paths)
    if many and not ndjson and target.kind != "directory":
        where = "a .json file takes one document" if target.path else "no -o given"
        raise usage(f"{total} documents and {where}: give -o DIRECTORY (or --format ndjson)", "-o")


def _terminology_store() -> tuple[str, str]:
    """The URL (and the description) of the store whose terminology the conversion uses;
    it must exist."""
    settings = load_settings()
    store = open_for_reading(settings)
    if store is None:
        raise usage(
            f"{missing_store(settings)}; import the JDV there first (crbio terminology "
            "import-jdv), or point BRIDGE_DATABASE_URL at the store that has it",
            "--terminology",
        )
    store.close()
    note(f"terminology from {describe(settings)}", "terminology", "cyan")
    return settings.database_url, describe(settings)


# Stopping -------------------------------------------------------------------------------


def _close(manifest: Manifest, target: Target) -> None:
    """Keep a stopped run's state for --resume (a run to standard output has none)."""
    if target.kind == "stdout":
        manifest.discard()
    else:
        manifest.close()


def _stopped(manifest: Manifest, target: Target, why: str, status: int = 1) -> typer.Exit:
    """Say how far a stopped run went (status 130 for Ctrl-C, as shells do)."""
    done = manifest.count()
    _close(manifest, target)
    if target.kind == "stdout":
        fail(f"{why}; nothing was written")
    else:
        fail(f"{why} after {done} document(s); the same command with --resume continues it")
    return typer.Exit(status)

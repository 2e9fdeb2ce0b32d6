"""The `crbio` command line. Commands stay thin: they call the library and report.

Exit codes: 0 all documents converted, 1 some document rejected, 2 usage error.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bridge import __version__
from bridge.cda import DEFAULT_MAX_BYTES
from bridge.cli.batch import discover, run
from bridge.cli.output import BundleOutput, NdjsonOutput
from bridge.cli.serve import hash_key, serve
from bridge.cli.terminology import app as terminology_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="crbio",
    help="crbio-bridge: French CR-BIO lab reports (HL7 CDA R2) as FHIR R4.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
app.add_typer(terminology_app, name="terminology")
app.command()(serve)
app.command("hash-key")(hash_key)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crbio-bridge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """crbio-bridge command line."""


@app.command()
def convert(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="PATH...", help="CDA files, or directories (*.xml, recursively)."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--out",
            help=(
                "Output: a .json file (one input, bundle format), a .ndjson file, or a directory. "
                "Without it, a single document is written to standard output."
            ),
        ),
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="bundle | ndjson")] = "bundle",
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    pretty: Annotated[bool, typer.Option("--pretty", help="Indent Bundle JSON.")] = False,
    issues_path: Annotated[
        Path | None,
        typer.Option(
            "--issues",
            help=("Write every warning as NDJSON (document, severity, code, location, message)."),
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
                "Use the imported JDV and the value sets synchronised from the SMT "
                "(BRIDGE_DATABASE_URL) instead of the seed rows."
            ),
        ),
    ] = False,
) -> None:
    """Convert CR-BIO / BIO-TROD documents to FHIR R4 (transaction Bundles or NDJSON)."""
    if output_format not in ("bundle", "ndjson"):
        raise typer.BadParameter("must be bundle or ndjson", param_hint="--format")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(
            f"no such file or directory: {', '.join(missing)}", param_hint="PATHS"
        )
    files = list(discover(paths))
    many = len(files) > 1 or any(p.is_dir() for p in paths)
    ndjson = output_format == "ndjson"
    if ndjson:
        if out is not None and out.suffix == ".json":
            raise typer.BadParameter(
                "NDJSON goes to a .ndjson file or a directory", param_hint="-o"
            )
        writer: BundleOutput | NdjsonOutput = NdjsonOutput(
            out, directory=out is not None and out.suffix not in (".ndjson", ".jsonl")
        )
    else:
        single_file = out is not None and out.suffix == ".json"
        if single_file and many:
            raise typer.BadParameter(
                "a .json output takes one document; give a directory", param_hint="-o"
            )
        if out is None and many:
            raise typer.BadParameter(
                "several documents need -o DIRECTORY (or --format ndjson)", param_hint="-o"
            )
        writer = BundleOutput(out, single_file)

    resources: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    rejected: list[tuple[str, str]] = []
    converted = 0
    issues_file = issues_path.open("wb") if issues_path else None
    progress = Progress(
        TextColumn("[bold]converting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not many,
    )
    names = {str(path): name for path, name in files}
    complete = False
    try:
        with progress:
            task = progress.add_task("convert", total=len(files))
            for result in run(
                (p for p, _ in files),
                ndjson=ndjson,
                pretty=pretty,
                max_bytes=max_size,
                jobs=min(jobs, len(files) or 1),
                terminology=terminology,
            ):
                progress.advance(task)
                if result.error is not None:
                    rejected.append((result.path, result.error))
                    continue
                converted += 1
                writer.write(result, names[result.path])
                resources.update(result.counts)
                for issue in result.issues:
                    (warnings if issue["severity"] != "information" else notes)[issue["code"]] += 1
                if issues_file is not None:
                    for issue in result.issues:
                        issues_file.write(orjson.dumps({"document": result.path, **issue}) + b"\n")
        complete = True
    finally:
        writer.close(complete=complete)
        if issues_file is not None:
            issues_file.close()
    _summary(converted, resources, warnings, notes, rejected)
    if rejected:
        raise typer.Exit(1)


def _summary(
    converted: int,
    resources: Counter[str],
    warnings: Counter[str],
    notes: Counter[str],
    rejected: list[tuple[str, str]],
) -> None:
    err.print(
        f"[bold]{converted}[/bold] document(s) converted, "
        f"[bold]{sum(resources.values())}[/bold] resources, "
        f"[bold]{sum(warnings.values())}[/bold] warning(s), "
        f"[bold]{sum(notes.values())}[/bold] note(s), "
        f"[bold]{len(rejected)}[/bold] rejected"
    )
    if resources:
        table = Table("resource type", "count", title="Resources", title_justify="left")
        for name, count in sorted(resources.items()):
            table.add_row(name, str(count))
        err.print(table)
    if warnings or notes:
        table = Table("issue", "severity", "count", title="Issues", title_justify="left")
        for counter, severity in ((warnings, "warning"), (notes, "information")):
            for name, count in counter.most_common():
                table.add_row(name, severity, str(count))
        err.print(table)
    for path, reason in rejected:  # one line each, never wrapped: grep-able
        err.print(f"[red]rejected[/red] {path}: {reason}", highlight=False, soft_wrap=True)


def main() -> None:
    app()

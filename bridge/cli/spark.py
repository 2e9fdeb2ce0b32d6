"""`crbio spark-convert`: an archive of CR-BIO documents converted on Apache Spark.

The same output as `crbio convert --format ndjson` (one line per resource id, `Type/id`
references, the newest document's version), written by the executors, partitioned by
resource type, as NDJSON or Parquet. Needs the `spark` extra (pyspark) and Java 17 or
later; the work is `bridge.spark`'s, this command only checks, starts and reports.

Exit codes: 0 every document converted, 1 some refused (the report says which and
why) or Spark failed, 2 usage error (nothing was done).
"""

from __future__ import annotations

import os
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import unquote, urlsplit

import typer

from bridge.cda import DEFAULT_MAX_BYTES
from bridge.cli.convert import _terminology_store
from bridge.cli.problems import err, fail, load_settings, note, usage
from bridge.cli.report import RunReport

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from bridge.spark import JobReport, SmtAccess, Terminology

__all__ = ["spark_convert"]

SPARK_EXTRA = "pip install 'crbio-bridge[spark]'"


class SparkFormat(StrEnum):
    ndjson = "ndjson"
    parquet = "parquet"


def spark_convert(
    source: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="A folder (every *.xml below it) or a file: a path, or a URL Spark reads "
            "(hdfs://…, s3a://…).",
            show_default=False,
        ),
    ],
    output: Annotated[
        str,
        typer.Argument(
            metavar="OUTPUT",
            help="The folder to write, one resource_type=<Type> folder per type inside.",
            show_default=False,
        ),
    ],
    master: Annotated[
        str,
        typer.Option(
            "--master",
            help="Where Spark runs: local[*] (every core here), local[N], spark://host:7077, "
            "yarn, k8s://…",
        ),
    ] = "local[*]",
    output_format: Annotated[
        SparkFormat, typer.Option("--format", help="ndjson (FHIR NDJSON) or parquet.")
    ] = SparkFormat.ndjson,
    terminology: Annotated[
        bool,
        typer.Option(
            "--terminology",
            help="Use the imported JDV and the synced value sets of the store of "
            "BRIDGE_DATABASE_URL, broadcast to the executors, instead of the seed rows.",
        ),
    ] = False,
    smt: Annotated[
        bool,
        typer.Option(
            "--smt",
            help="Ask the SMT (BRIDGE_SMT_URL) what the JDV and the synced value sets do not "
            "answer: each distinct code once, from one client per executor.",
        ),
    ] = False,
    smt_rate: Annotated[
        float,
        typer.Option("--smt-rate", min=0.01, help="Requests a second to the SMT, for the job."),
    ] = 10.0,
    max_size: Annotated[
        int, typer.Option("--max-size", min=1, help="Refuse larger documents (bytes).")
    ] = DEFAULT_MAX_BYTES,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUTPUT (the whole folder) if it exists.")
    ] = False,
) -> None:
    """Convert CR-BIO documents on Apache Spark: NDJSON or Parquet by resource type.

    Exit status: 0 every document converted, 1 some refused (the report says which and
    why) or Spark failed, 2 usage error.
    """
    _check_paths(source, output, overwrite)
    access = _smt_access(smt_rate) if smt else None
    try:
        from bridge import spark as bridge_spark
    except ImportError as exc:
        raise fail(f"spark-convert needs pyspark ({exc.name} is missing): {SPARK_EXTRA}") from exc
    chosen = _terminology() if terminology else bridge_spark.Terminology.seed()
    running = _running_session()
    if running is not None:  # called from a program that has its session: use it
        note(f"using the running Spark session ({running.sparkContext.master})", "spark", "cyan")
    session = running or _start(master)
    where = session.sparkContext.master
    try:
        report = bridge_spark.run(
            session,
            [source],
            output,
            output_format=bridge_spark.OutputFormat(output_format.value),
            terminology=chosen,
            smt=access,
            max_bytes=max_size,
            overwrite=overwrite,
        )
    except Exception as exc:  # Spark's own errors: an unreadable input, a lost executor…
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise fail(f"the Spark job failed: {first}") from exc
    finally:
        if running is None:
            session.stop()
    _print(report, output_format, where, asked=access is not None)
    if report.rejected:
        raise typer.Exit(1)


def _running_session() -> SparkSession | None:
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def _start(master: str) -> SparkSession:
    from bridge.spark import session

    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no warning about the hostname
    try:
        started = session(master)
    except Exception as exc:  # the JVM did not start: no Java, a wrong version…
        raise fail(
            f"Spark did not start ({exc}); it needs Java 17 or later on PATH or in JAVA_HOME "
            "(Debian: apt-get install default-jre-headless)"
        ) from exc
    started.sparkContext.setLogLevel("ERROR")
    return started


def _local(location: str) -> Path | None:
    """The local path of a location (a path or a file: URL); None for another file system."""
    parts = urlsplit(location)
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # C:\… is local too
        return Path(unquote(parts.path) if parts.scheme == "file" else location)
    return None


def _check_paths(source: str, output: str, overwrite: bool) -> None:
    found, out = _local(source), _local(output)
    if found is not None and not found.exists():
        raise usage(f"no such file or directory: {source}", "INPUT")
    if found is not None and not _has_documents(found):
        raise usage(f"no *.xml file in {source}", "INPUT")
    if out is not None and out.exists():
        if not out.is_dir():
            raise usage(f"{output} exists and is not a directory", "OUTPUT")
        if any(out.iterdir()) and not overwrite:
            raise usage(f"{output} is not empty: give --overwrite, or another folder", "OUTPUT")
    if found is not None and out is not None and out.resolve().is_relative_to(found.resolve()):
        raise usage(f"{output} is inside {source}: write the output elsewhere", "OUTPUT")


def _has_documents(path: Path) -> bool:
    """Whether Spark's listing will find a document: a *.xml file, none of the folders
    on its way hidden (`.` or `_`, which Spark skips)."""
    if path.is_file():
        return path.suffix.lower() == ".xml"
    for _, subfolders, files in os.walk(path):
        subfolders[:] = [d for d in subfolders if not d.startswith((".", "_"))]
        if any(f.lower().endswith(".xml") and not f.startswith((".", "_")) for f in files):
            return True
    return False


def _smt_access(rate: float) -> SmtAccess:
    settings = load_settings()
    if settings.offline:
        raise usage("BRIDGE_OFFLINE is set: the SMT is never asked", "--smt")
    from bridge.spark.smt import SmtAccess

    return SmtAccess.of(settings, rate)


def _terminology() -> Terminology:
    """The current JDV and synced displays of the store, read once by the driver."""
    from bridge.spark import Terminology
    from bridge.store import open_store
    from bridge.terminology.service import from_settings

    database_url, _ = _terminology_store()
    settings = replace(load_settings(), database_url=database_url, offline=True)
    store = open_store(database_url)
    try:
        return Terminology.of(from_settings(settings, store))
    finally:
        store.close()


def _print(report: JobReport, output_format: SparkFormat, master: str, *, asked: bool) -> None:
    warnings: dict[str, int] = {}
    notes: dict[str, int] = {}
    for key, count in report.issues.items():
        severity, _, code = key.partition("|")
        target = notes if severity == "information" else warnings
        target[code] = target.get(code, 0) + count
    run = RunReport(
        converted=report.converted,
        rejected=[(_shown(path), reason) for path, reason in report.rejected],
        resources=report.published.resources,
        published=report.published,
        seconds=report.seconds,
        converted_now=report.converted,
        output_name="NDJSON" if output_format is SparkFormat.ndjson else "Parquet",
    )
    run.warnings.update(warnings)
    run.notes.update(notes)
    run.print()
    if report.misses:
        then = (
            f"the SMT answered {report.answered} ({report.reconverted} document(s) converted "
            "again with its answers)"
            if asked
            else "--smt asks the SMT for them"
        )
        note(
            f"{report.misses} distinct code(s) the terminology could not answer "
            f"(correspondences, displays); {then}",
            "terminology",
            "cyan",
        )
        for reason, count in report.smt_errors.most_common(5):
            err.print(f"  SMT: {count} × {reason}", highlight=False, soft_wrap=True, markup=False)
    err.print(f"Spark: {master}", highlight=False, markup=False)


def _shown(path: str) -> str:
    """A local file as its path, any other as the URL Spark gave."""
    local = _local(path)
    return str(local) if local is not None else path

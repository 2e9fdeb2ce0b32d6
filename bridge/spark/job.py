"""A whole `crbio spark-convert` job: convert, ask the SMT for the misses, keep, write.

1. Every document is converted once on the executors, with the broadcast terminology
   (bridge/spark/terminology.py); the result is persisted (memory, then disk).
2. With an SMT, the distinct misses of the whole job are asked once each
   (bridge/spark/smt.py); the documents that asked a question the SMT answered are
   converted again with the answers, the others are kept as they were.
3. One version per resource id is kept (bridge/spark/kept.py) and written
   (bridge/spark/output.py).
4. The figures of the final report are read from the persisted data: documents
   converted and refused (by reason), issues, resources by type, duplicates merged,
   replaced reports left out, the terminology's misses.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark import StorageLevel
from pyspark.sql import functions as F

from bridge.cda import DEFAULT_MAX_BYTES
from bridge.export import Published
from bridge.spark.documents import QUESTION_SCHEMA, documents, sources
from bridge.spark.kept import chosen, kept, replaced_documents, versions_of
from bridge.spark.output import OutputFormat, write
from bridge.spark.smt import SmtAccess, ask_partition
from bridge.spark.terminology import Answer, Question, Terminology

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["JobReport", "convert", "resources_of", "run"]

DOCUMENT_COLUMNS = ("path", "document", "document_time", "precedence", "identifiers", "replaces")


@dataclass(slots=True)
class JobReport:
    converted: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    issues: Counter[str] = field(default_factory=Counter)  # "severity|code" → count
    published: Published = field(default_factory=Published)
    misses: int = 0  # distinct questions the broadcast terminology could not answer
    answered: int = 0  # … that the SMT answered
    smt_errors: Counter[str] = field(default_factory=Counter)  # why the SMT did not answer
    reconverted: int = 0  # documents converted again with the SMT's answers
    seconds: float = 0.0


def convert(
    spark: SparkSession,
    paths: Iterable[str],
    *,
    terminology: Terminology | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DataFrame:
    """The resources of every CR-BIO document below `paths`, one row per resource and
    document (before de-duplication: `bridge.spark.kept`): resource_type, id, role,
    patient, json, and the document's path, id, time, precedence, identifiers and
    replaced identifiers. Refused documents give no row (`documents` has them)."""
    broadcast = spark.sparkContext.broadcast(terminology or Terminology.seed())
    return resources_of(documents(spark, sources(spark, paths), broadcast, max_bytes))


def resources_of(converted: DataFrame) -> DataFrame:
    """One row per resource of the converted documents of a `documents` DataFrame."""
    return (
        converted.where(F.col("error").isNull())
        .select(*DOCUMENT_COLUMNS, F.explode("resources").alias("resource"))
        .select("resource.*", *DOCUMENT_COLUMNS)
    )


def run(
    spark: SparkSession,
    paths: Iterable[str],
    output: str,
    *,
    output_format: OutputFormat = OutputFormat.ndjson,
    terminology: Terminology | None = None,
    smt: SmtAccess | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    overwrite: bool = False,
) -> JobReport:
    """Convert the documents below `paths` and write one line per resource id."""
    started = time.monotonic()
    report = JobReport()
    terminology = terminology or Terminology.seed()
    found = sources(spark, list(paths))
    broadcast = spark.sparkContext.broadcast(terminology)
    converted = documents(spark, found, broadcast, max_bytes).persist(StorageLevel.MEMORY_AND_DISK)
    misses = [
        (row.system, row.code, row.unit)
        for row in converted.select(F.explode("misses").alias("q"))
        .select("q.*")
        .distinct()
        .collect()
    ]
    report.misses = len(misses)
    persisted = [converted]
    if smt is not None and misses:
        converted = _with_answers(
            spark, found, converted, terminology, misses, smt, max_bytes, report
        )
        persisted.append(converted)
    resources = resources_of(converted)
    try:
        ids = chosen(versions_of(resources))
        write(kept(resources, ids), output, output_format, overwrite=overwrite)
        _count(converted, resources, ids, report)
    finally:
        for frame in persisted:
            frame.unpersist()
    report.seconds = time.monotonic() - started
    return report


def _with_answers(
    spark: SparkSession,
    found: DataFrame,
    converted: DataFrame,
    terminology: Terminology,
    misses: list[Question],
    smt: SmtAccess,
    max_bytes: int,
    report: JobReport,
) -> DataFrame:
    """Ask the SMT the misses; convert again the documents whose questions it answered
    (the first conversion stays persisted: the others are taken from it)."""
    answers = ask(spark, misses, smt, report)
    answered = [question for question, answer in answers.items() if answer is not None]
    report.answered = len(answered)
    if not answered:
        return converted
    asked_again = (
        converted.select("path", F.explode("misses").alias("q"))
        .select("path", "q.*")
        .join(spark.createDataFrame(answered, QUESTION_SCHEMA), ["system", "code", "unit"])
        .select("path")
        .distinct()
    )
    again = documents(
        spark,
        found.join(asked_again, "path", "left_semi"),
        spark.sparkContext.broadcast(terminology.with_answers(answers)),
        max_bytes,
    )
    report.reconverted = asked_again.count()
    return (
        converted.join(asked_again, "path", "left_anti")
        .unionByName(again)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )


def ask(
    spark: SparkSession, misses: list[Question], smt: SmtAccess, report: JobReport
) -> dict[Question, Answer]:
    """The SMT's answer to each miss, asked by one task per executor (a share of the
    rate each); the reasons of the failed calls go to the report."""
    tasks = min(len(misses), executors(spark))
    share = smt.shared(tasks)
    asked = spark.sparkContext.parallelize(misses, tasks).mapPartitions(
        lambda questions: ask_partition(questions, share)
    )
    answers: dict[Question, Answer] = {}
    for system, code, unit, answer, error in asked.collect():
        answers[(system, code, unit)] = answer
        if error is not None:
            report.smt_errors[error] += 1
    return answers


def executors(spark: SparkSession) -> int:
    """The executors of the application (the driver itself in local mode)."""
    context = spark.sparkContext
    if context.master.startswith("local"):
        return 1
    registered = context._jsc.sc().getExecutorMemoryStatus().size()  # type: ignore[attr-defined]
    return max(1, registered - 1)  # the driver is listed too


def _count(converted: DataFrame, resources: DataFrame, ids: DataFrame, report: JobReport) -> None:
    ok = F.col("error").isNull()
    total = converted.agg(  # one pass: documents converted, their lines, the refused
        F.count(F.when(ok, 1)).alias("documents"),
        F.sum(F.when(ok, F.size("resources"))).alias("lines"),
        F.collect_list(F.when(~ok, F.struct("path", "error"))).alias("refused"),
    ).first()
    assert total is not None  # an aggregate without grouping gives one row
    report.converted, lines = total.documents, total.lines or 0
    report.rejected = sorted((row.path, row.error) for row in total.refused)
    issues = (
        converted.where(ok)
        .select(F.explode("issues"))
        .groupBy("key")
        .agg(F.sum("value").alias("n"))
    )
    report.issues = Counter({row.key: row.n for row in issues.collect()})
    by_type = ids.groupBy("resource_type").agg(
        F.count("*").alias("written"), F.sum("versions").alias("candidates")
    )
    published = Published(replaced=replaced_documents(resources).count())
    candidates = 0
    for row in by_type.collect():
        published.resources[row.resource_type] = row.written
        candidates += row.candidates
    published.duplicates = candidates - sum(published.resources.values())
    published.left_out = lines - candidates
    report.published = published

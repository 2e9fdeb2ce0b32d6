"""Documents read by Spark and converted on its executors: one row per input file.

`documents` reads every `*.xml` below the paths with Spark's `binaryFile` source (any
file system Spark reads: local, HDFS, S3…), converts each document on the executors
(`mapPartitions`) with the same pure converter as every other path
(`bridge.mapping.convert`), and flattens it as `crbio convert --format ndjson` does
(`bridge.export.flatten`: `Type/id` references, the PDF copy by URL, each resource's
role). A row carries what the de-duplication needs (the document's precedence and
time, its identifiers and the ones it replaces), its resources as JSON, its issue
counts and its terminology misses. A refused document is a row with its reason,
never a failed task; a file over the size limit is refused without its bytes being
read (the `length` filter is pushed down to the file listing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from bridge.errors import DocumentTooLargeError, rejection
from bridge.export import FlatDocument, flatten_conversion
from bridge.export.compartment import FOLLOWERS, patients_of
from bridge.mapping import convert, dumps
from bridge.spark.terminology import Terminology
from bridge.store.documents import document_time, source_documents

if TYPE_CHECKING:
    from pyspark import Broadcast
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["DOCUMENT_SCHEMA", "RESOURCE_SCHEMA", "convert_partition", "documents", "sources"]

XML_FILES = "*.[xX][mM][lL]"  # crbio convert takes every *.xml, whatever its case

RESOURCE_SCHEMA = StructType(
    [
        StructField("resource_type", StringType(), False),
        StructField("id", StringType(), False),
        StructField("role", StringType()),  # "report", "document" or null (bridge.export)
        StructField("patient", StringType()),  # "Patient/<id>" whose compartment holds it
        StructField("json", StringType(), False),  # the resource, as one NDJSON line
    ]
)
QUESTION_SCHEMA = StructType(
    [
        StructField("system", StringType(), False),
        StructField("code", StringType(), False),
        StructField("unit", StringType(), False),  # "" for a display question
    ]
)
DOCUMENT_SCHEMA = StructType(
    [
        StructField("path", StringType(), False),
        StructField("document", StringType()),  # the CDA id, root|extension
        StructField("document_time", TimestampType()),  # DocumentReference.date
        StructField("precedence", StringType()),  # bridge.export.precedence: greater wins
        StructField("identifiers", ArrayType(StringType())),  # identifier_key of its own
        StructField("replaces", ArrayType(StringType())),  # … of the documents it replaces
        StructField("resources", ArrayType(RESOURCE_SCHEMA)),
        StructField("issues", MapType(StringType(), IntegerType())),  # "severity|code" → n
        StructField("misses", ArrayType(QUESTION_SCHEMA)),  # what the terminology lacked
        StructField("error", StringType()),  # why the document was refused, else null
    ]
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sources(spark: SparkSession, paths: Iterable[str]) -> DataFrame:
    """path, modificationTime, length, content of every *.xml below `paths`.

    Spark's file listing leaves out names starting with `_` or `.` (its own
    `_SUCCESS`, `.crc`, `.crbio-convert`…), as Hadoop tools do.
    """
    return (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", XML_FILES)
        .option("recursiveFileLookup", "true")
        .load([str(p) for p in paths])
    )


def documents(
    spark: SparkSession,
    found: DataFrame,
    terminology: Broadcast[Terminology],
    max_bytes: int,
) -> DataFrame:
    """One DOCUMENT_SCHEMA row per file of `found` (a `sources` DataFrame); the files over
    `max_bytes` are listed at once, their bytes never read."""
    fitting = found.where(F.col("length") <= max_bytes).select("path", "content")
    converted = fitting.rdd.mapPartitions(
        lambda rows: convert_partition(rows, terminology.value, max_bytes)
    )
    # the rows are made here, to the schema: checking each one again in Python only
    # slows their way to the JVM
    documents = spark.createDataFrame(converted, DOCUMENT_SCHEMA, verifySchema=False)
    too_large = [  # read from the listing: a few rows, made on the driver
        _refused(row.path, DocumentTooLargeError(row.length, max_bytes))
        for row in found.where(F.col("length") > max_bytes).select("path", "length").collect()
    ]
    if not too_large:
        return documents
    refused = spark.sparkContext.parallelize(too_large, 1)
    return documents.unionByName(spark.createDataFrame(refused, DOCUMENT_SCHEMA))


def convert_partition(
    rows: Iterable[Any], terminology: Terminology, max_bytes: int
) -> Iterator[tuple[Any, ...]]:
    """DOCUMENT_SCHEMA tuples of (path, content) rows, on an executor."""
    for row in rows:
        yield convert_one(row.path, bytes(row.content), terminology, max_bytes)


def convert_one(
    path: str, data: bytes, terminology: Terminology, max_bytes: int
) -> tuple[Any, ...]:
    asking = terminology.asking()
    try:
        conversion = convert(data, max_bytes=max_bytes, **asking.options())
        flat = flatten_conversion(conversion, data)
    except Exception as exc:  # a refused document (or a bug) is a row, never a failed task
        return _refused(path, exc)
    time = document_time(source_documents(conversion.bundle))
    issues = Counter(f"{issue.severity}|{issue.code}" for issue in conversion.issues)
    return (
        path,
        flat.document_id,
        None if time is None else _EPOCH + timedelta(microseconds=time),
        flat.precedence,
        list(flat.identifiers),
        list(flat.replaces),
        _resources(flat),
        dict(issues),
        sorted(asking.misses),
        None,
    )


def _resources(flat: FlatDocument) -> list[tuple[str, str, str | None, str | None, str]]:
    """RESOURCE_SCHEMA tuples; a Provenance or a Binary, which belong to the compartment
    of what they name, get the document's patient (bridge.export.compartment)."""
    own = next((r.resource for r in flat.resources if r.role == "document"), {})
    document_patient = _first(patients_of(own))
    found = []
    for r in flat.resources:
        patient = _first(patients_of(r.resource))
        if patient is None and r.resource_type in FOLLOWERS:
            patient = document_patient
        found.append((r.resource_type, r.id, r.role, patient, dumps(r.resource).decode()))
    return found


def _first(patients: set[str]) -> str | None:
    return min(patients) if patients else None


def _refused(path: str, exc: BaseException) -> tuple[Any, ...]:
    return (path, None, None, None, None, None, None, None, None, rejection(exc))

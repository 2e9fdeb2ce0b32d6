"""One row per resource id: the version a store fed the same documents keeps.

The rules are those of `crbio convert --format ndjson` and `$ingest`
(bridge/export/precedence.py), applied by the same functions:

1. the documents replaced by another document of the set (RPLC: one's identifier is
   named by another's `replaces`) are found by a join, as the NDJSON writer's SQL
   finds them (bridge/export/ndjson.py);
2. the versions of each (type, id) are reduced pairwise (`reduceByKey`) with
   `bridge.export.newest`, which ranks them by `bridge.export.precedence.rank`
   (current documents first, then the greatest precedence) and never keeps the report
   of a replaced document; the reduction keeps constant memory per id, however many
   documents share a patient. Only what ranks a version (replaced, precedence, role,
   path) goes through Python: the chosen (type, id, path) is then joined back to its
   JSON, which stays in the JVM;
3. the version kept is written as `bridge.export.kept_line` writes it (a replaced
   document's own DocumentReference becomes `superseded`: the few lines whose form
   `bridge.export.precedence.rewritten` says changes go through Python again).

Ties (the same precedence: the same document at two paths) are the same bytes, so the
order of the reduction never shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from bridge.export import kept_line, newest
from bridge.export.precedence import rewritten

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["CHOSEN_SCHEMA", "KEPT_SCHEMA", "chosen", "kept", "replaced_documents", "versions_of"]

KEPT_SCHEMA = StructType(
    [
        StructField("resource_type", StringType(), False),
        StructField("id", StringType(), False),
        StructField("patient", StringType()),
        StructField("document", StringType()),  # the document whose version is kept
        StructField("document_time", TimestampType()),
        StructField("json", StringType(), False),
        StructField("versions", IntegerType(), False),  # candidate versions merged into it
    ]
)


def replaced_documents(resources: DataFrame) -> DataFrame:
    """The paths of the documents another document of the set replaces."""
    own = resources.select("path", F.explode("identifiers").alias("identifier")).distinct()
    naming = resources.select(
        F.col("path").alias("by"), F.explode("replaces").alias("identifier")
    ).distinct()
    return (
        own.join(naming, "identifier").where(F.col("path") != F.col("by")).select("path").distinct()
    )


def versions_of(resources: DataFrame) -> DataFrame:
    """`resources` with `replaced`: whether another document of the set replaces theirs."""
    replaced = replaced_documents(resources).withColumn("replaced", F.lit(True))
    # replacements are corrections, few: broadcast, the resources keep their partitions
    return resources.join(F.broadcast(replaced), "path", "left").withColumn(
        "replaced", F.coalesce("replaced", F.lit(False))
    )


def chosen(versions: DataFrame) -> DataFrame:
    """CHOSEN_SCHEMA: for each id kept, the path of the document whose version is kept,
    the candidate versions merged, and whether it is kept in another form. Computed at
    once and checkpointed (it is small: no JSON), since `kept` and the report read it."""
    ranks = versions.select("resource_type", "id", "replaced", "precedence", "role", "path")
    spark = versions.sparkSession
    cores = spark.sparkContext.defaultParallelism  # one Python task per core, not per file split
    reduced = ranks.coalesce(cores).rdd.map(_keyed).reduceByKey(_newer, cores)
    return spark.createDataFrame(reduced.flatMap(_chosen), CHOSEN_SCHEMA).localCheckpoint()


def kept(resources: DataFrame, ids: DataFrame | None = None) -> DataFrame:
    """KEPT_SCHEMA rows of `resources` (`bridge.spark.convert`'s DataFrame): the version
    of each id that `ids` (`chosen`, computed here when not given) names."""
    versions = versions_of(resources)
    ids = chosen(versions) if ids is None else ids
    keys = ["resource_type", "id", "path"]
    as_written = versions.join(ids.where(~F.col("rewritten")), keys)
    to_rewrite = versions.join(F.broadcast(ids.where(F.col("rewritten"))), keys)
    spark = resources.sparkSession
    rewritten = spark.createDataFrame(
        to_rewrite.coalesce(spark.sparkContext.defaultParallelism).rdd.map(_rewrite),
        KEPT_SCHEMA,
    )  # one DocumentReference per replaced document: few rows through Python
    return as_written.select(*KEPT_SCHEMA.fieldNames()).unionByName(rewritten)


# A version on its way through the reduction: (replaced, precedence, role, path,
# versions seen, candidate versions seen)
Version = tuple[bool, str, str | None, str, int, int]
CHOSEN_SCHEMA = StructType(
    [
        StructField("resource_type", StringType(), False),
        StructField("id", StringType(), False),
        StructField("path", StringType(), False),
        StructField("versions", IntegerType(), False),
        StructField("rewritten", BooleanType(), False),
    ]
)


def _keyed(row: Any) -> tuple[tuple[str, str], Version]:
    replaced, precedence, role = row.replaced, row.precedence, row.role
    candidate = newest([((replaced, precedence), role)]) is not None
    return (row.resource_type, row.id), (replaced, precedence, role, row.path, 1, int(candidate))


def _newer(a: Version, b: Version) -> Version:
    """The version `newest` keeps of the two (a, when neither may be kept), with the
    counts of both."""
    chosen = newest([((a[0], a[1]), a[2]), ((b[0], b[1]), b[2])])
    winner = b if chosen == 1 else a
    return (*winner[:4], a[4] + b[4], a[5] + b[5])  # type: ignore[return-value]


def _chosen(pair: tuple[tuple[str, str], Version]) -> list[tuple[Any, ...]]:
    """(type, id, path of the version kept, candidate versions, kept in another form),
    or nothing when only the report of replaced documents wrote it (left out)."""
    (resource_type, resource_id), (replaced, precedence, role, path, _, candidates) = pair
    if newest([((replaced, precedence), role)]) is None:
        return []
    return [(resource_type, resource_id, path, candidates, rewritten(replaced, role))]


def _rewrite(row: Any) -> tuple[Any, ...]:
    line = kept_line(row.json.encode(), row.replaced, row.role).decode()
    return tuple(line if name == "json" else row[name] for name in KEPT_SCHEMA.fieldNames())

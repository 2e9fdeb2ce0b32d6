"""Writing the kept resources: NDJSON or Parquet, partitioned by resource type.

Both use Spark's partitioned layout, which Spark, Hive, Trino and DuckDB read back
with the type as a column: `OUTPUT/resource_type=Observation/part-….ndjson` (one FHIR
resource a line, the bytes `crbio convert --format ndjson` writes) or `….parquet`
(columns id, patient, document, document_time, json). Each task writes its own files,
so executors write in parallel to any file system Spark writes (local, HDFS, S3…);
`_SUCCESS` at the top says the job finished.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["OutputFormat", "write"]

PARQUET_COLUMNS = ("id", "patient", "document", "document_time", "json")


class OutputFormat(StrEnum):
    ndjson = "ndjson"
    parquet = "parquet"


def write(kept: DataFrame, output: str, output_format: OutputFormat, *, overwrite: bool) -> None:
    """Write `kept` (bridge.spark.kept's rows) to `output`, one folder per resource type."""
    mode = "overwrite" if overwrite else "errorifexists"
    # files of a useful size (Spark's advisory partition size, 64 MB), not one per task
    kept = kept.hint("rebalance")
    if output_format is OutputFormat.parquet:
        writer = kept.select("resource_type", *PARQUET_COLUMNS).write.mode(mode)
        writer.partitionBy("resource_type").parquet(output)
        return
    kept.select("resource_type", "json").write.mode(mode).partitionBy("resource_type").text(output)
    _rename_parts(kept, output, ".txt", ".ndjson")


def _rename_parts(frame: DataFrame, output: str, old: str, new: str) -> None:
    """Spark's text source names its files `part-….txt`: name them for what they hold,
    through the Hadoop file system of `output` (local, HDFS, S3 alike)."""
    spark = frame.sparkSession
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    hadoop = jvm.org.apache.hadoop.fs
    root = hadoop.Path(output)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[attr-defined]
    for status in fs.globStatus(hadoop.Path(root, f"*/part-*{old}")) or []:
        path = status.getPath()
        fs.rename(path, hadoop.Path(path.getParent(), path.getName()[: -len(old)] + new))

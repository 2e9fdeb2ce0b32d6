"""CR-BIO archives on Apache Spark (the `spark` extra: `pip install 'crbio-bridge[spark]'`).

- `convert(spark, paths)`: every document below `paths` (read with `binaryFile`),
  converted on the executors by the same pure converter as every other path, as a
  DataFrame of resources (type, id, role, patient, JSON, and the document's path, id,
  time, precedence, identifiers);
- `kept(resources)`: one row per resource id, the version a store keeps, by the rules
  of `crbio convert --format ndjson` (bridge.export.precedence);
- `write(kept, output, format)`: NDJSON or Parquet, partitioned by resource type;
- `run(spark, paths, output, …)`: all of it, with the SMT asked for the terminology's
  misses, and the figures of the final report (`crbio spark-convert`).
"""

from __future__ import annotations

from bridge.spark.documents import documents as documents
from bridge.spark.documents import sources as sources
from bridge.spark.job import JobReport as JobReport
from bridge.spark.job import convert as convert
from bridge.spark.job import resources_of as resources_of
from bridge.spark.job import run as run
from bridge.spark.kept import kept as kept
from bridge.spark.output import OutputFormat as OutputFormat
from bridge.spark.output import write as write
from bridge.spark.session import session as session
from bridge.spark.smt import SmtAccess as SmtAccess
from bridge.spark.terminology import Terminology as Terminology

__all__ = [
    "JobReport",
    "OutputFormat",
    "SmtAccess",
    "Terminology",
    "convert",
    "documents",
    "kept",
    "resources_of",
    "run",
    "session",
    "sources",
    "write",
]

"""The Spark session of `crbio spark-convert`.

On a cluster (`spark://…`, `yarn`, `k8s://…`) the cluster's own configuration applies;
its executors need crbio-bridge installed (`pip install 'crbio-bridge[spark]'` in
their image, or its wheel with `--py-files`), since they import `bridge` to convert.
In local mode the Python workers run this interpreter (the one that has crbio-bridge),
and the driver listens on loopback only, without its web UI.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

__all__ = ["session"]


def session(
    master: str, app_name: str = "crbio spark-convert", config: dict[str, str] | None = None
) -> SparkSession:
    """A new session (or the one already running in this process) on `master`."""
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    if master.startswith("local"):
        # PySpark starts its Python workers with $PYSPARK_PYTHON, else `python3` on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
        )
    return builder.getOrCreate()

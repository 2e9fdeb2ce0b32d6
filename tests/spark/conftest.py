"""One Spark session, in local mode, for the whole test run (it takes seconds to start).

Without pyspark or Java the Spark tests are skipped, with the reason; with
BRIDGE_REQUIRE_SPARK=1 (set by .ci/run, whose Makefile installs both) they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest


def _missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and os.path.isdir(java_home)):
        return "no Java runtime (apt-get install default-jre-headless)"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    missing = _missing()
    if missing is not None:
        if os.environ.get("BRIDGE_REQUIRE_SPARK") == "1":
            pytest.fail(f"BRIDGE_REQUIRE_SPARK=1 but {missing}")
        pytest.skip(missing)
    from bridge.spark import session

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    started = session(
        "local[2]",
        "crbio tests",
        {
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "4",  # small data: few tasks per shuffle
        },
    )
    started.sparkContext.setLogLevel("ERROR")
    yield started
    started.stop()

"""A local SparkSession configured like the Glue workers it stands in for."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


def local_spark_session(
    master: str = "local[*]", app_name: str = "era5-contours", conf: dict[str, str] | None = None
) -> SparkSession:
    """Start (or reuse) a local SparkSession whose Python workers use this interpreter.

    Without ``PYSPARK_PYTHON`` the workers would start the system Python, which lacks
    this project's packages. ``conf`` adds Spark settings (e.g. ``spark.executorEnv.*``).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "true")
        # Each day is one task; no shuffle happens, so keep the defaults small.
        .config("spark.sql.shuffle.partitions", "4")
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    logger.info("local Spark %s on %s", spark.version, master)
    return spark

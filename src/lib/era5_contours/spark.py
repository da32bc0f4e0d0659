"""A local SparkSession configured like the Glue workers it stands in for."""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger(__name__)


def local_spark_session(master: str = "local[*]", app_name: str = "era5-contours"):
    """Start (or reuse) a local SparkSession whose Python workers use this interpreter.

    Without ``PYSPARK_PYTHON`` the workers would start the system Python, which lacks
    this project's packages.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "true")
        # Each day is one task; no shuffle happens, so keep the defaults small.
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    logger.info("local Spark %s on %s", spark.version, master)
    return spark

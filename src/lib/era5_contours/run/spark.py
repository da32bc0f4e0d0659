"""A local SparkSession configured like the Glue workers it stands in for."""

from __future__ import annotations

import gc
import logging
import os
import sys
import zipimport
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


def _keep_directory() -> None:
    """What a steady zip archive does when asked to reload its directory: nothing."""


def steady_zip_imports() -> int:
    """Stop re-reading the zip archives on ``sys.path`` before every Spark task.

    PySpark's worker calls ``importlib.invalidate_caches()`` at the start of each task.
    On Python 3.10 and 3.11 (Glue 4.0 and 5.0) that makes every ``zipimporter`` re-read
    its archive's whole directory in pure Python, one importer per package imported from
    it: pyspark.zip (793 entries) ten times over and spark-core's jar (5,221 entries, no
    Python in it) twice, 0.19 s per task measured in a worker, the bulk of Spark's
    per-task cost here. Those archives (Spark's, Glue's, the job's ``--extra-py-files``)
    do not change while a worker lives, so their importers keep the directory they read.
    Called by :func:`steady_worker` at the start of each task (the first task pays once);
    returns how many importers it settled.
    """
    settled = 0
    for finder in list(sys.path_importer_cache.values()):
        if isinstance(finder, zipimport.zipimporter) and "invalidate_caches" not in vars(finder):
            # An instance attribute shadows the method for this importer only.
            finder.invalidate_caches = _keep_directory  # type: ignore[method-assign]
            settled += 1
    return settled


def _in_spark_task() -> bool:
    try:
        from pyspark import TaskContext
    except ImportError:
        return False
    return TaskContext.get() is not None


def steady_worker() -> None:
    """Keep a reused Spark Python worker's cost per task small; call at a task's start.

    Settles the zip importers (:func:`steady_zip_imports`) and, inside a Spark task,
    freezes the garbage collector's view of what is alive now (``gc.freeze``): PySpark's
    worker daemon runs a full ``gc.collect()`` after every task of a reused worker, which
    walks every tracked object, and with xarray, pandas, matplotlib, shapely and pyarrow
    imported that is about a million objects: 60-100 ms per task measured here, against
    10-20 ms once they are frozen (the next collection skips the frozen generation). The
    daemon has just collected when a task starts, so what is frozen is what the worker
    keeps anyway: modules, their caches, the borders read once per process. Reference
    counting still frees frozen objects; only a reference cycle among them that dies
    later is not collected. Outside a Spark task (the driver, tests, a plain process)
    nothing is frozen.
    """
    steady_zip_imports()
    if _in_spark_task():
        gc.freeze()

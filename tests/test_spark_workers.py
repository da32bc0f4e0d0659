"""Spark's Python workers: what each task costs before the day's own work starts."""

from __future__ import annotations

import importlib
import sys
import zipfile
import zipimport

import pytest

from era5_contours.run.spark import steady_zip_imports

# Depends on what differs between the Glue runtimes: the lanes run it (sh/test_glue_lane.sh).
pytestmark = pytest.mark.runtime


def _count_directory_reads(monkeypatch, archive: str) -> list[str]:
    reads: list[str] = []
    real = zipimport._read_directory

    def counting(path):
        if path == archive:
            reads.append(path)
        return real(path)

    monkeypatch.setattr(zipimport, "_read_directory", counting)
    return reads


@pytest.fixture
def zipped_package(tmp_path, monkeypatch):
    archive = tmp_path / "shipped.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("shippedpkg/__init__.py", "VALUE = 1\n")
        zf.writestr("shippedpkg/later.py", "VALUE = 2\n")
    monkeypatch.syspath_prepend(str(archive))
    yield str(archive)
    for name in ("shippedpkg", "shippedpkg.later"):
        sys.modules.pop(name, None)
    for key in [k for k in sys.path_importer_cache if k.startswith(str(archive))]:
        del sys.path_importer_cache[key]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="zipimporter reloads eagerly on 3.10/3.11")
def test_each_task_rereads_zip_archives_until_settled(zipped_package, monkeypatch):
    import shippedpkg  # noqa: F401 - puts the archive's importers in the cache

    reads = _count_directory_reads(monkeypatch, zipped_package)
    importlib.invalidate_caches()  # what PySpark's worker does before every task
    assert len(reads) >= 1


def test_settled_archives_are_not_reread_and_still_import(zipped_package, monkeypatch):
    import shippedpkg

    assert steady_zip_imports() >= 1  # at least the archive's own importer
    assert steady_zip_imports() == 0  # nothing new: settling twice is a no-op
    reads = _count_directory_reads(monkeypatch, zipped_package)
    importlib.invalidate_caches()
    assert reads == []
    # Modules not imported yet still come from the archive after the settling.
    from shippedpkg import later

    assert (shippedpkg.VALUE, later.VALUE) == (1, 2)
    # Directories on sys.path keep their normal invalidation (new files are found).
    assert all(
        "invalidate_caches" not in vars(f)
        for f in sys.path_importer_cache.values()
        if f is not None and not isinstance(f, zipimport.zipimporter)
    )


@pytest.mark.spark
def test_spark_workers_keep_their_zip_directories_between_tasks(spark):
    def task(_: int) -> int:
        import importlib
        import zipimport

        from era5_contours.run.spark import steady_zip_imports

        steady_zip_imports()
        reads = []
        real = zipimport._read_directory

        def counting(path):
            reads.append(path)
            return real(path)

        zipimport._read_directory = counting
        try:
            importlib.invalidate_caches()
        finally:
            zipimport._read_directory = real
        return len(reads)

    # pyspark.zip, py4j's zip and spark-core's jar are on every worker's sys.path.
    assert spark.sparkContext.parallelize(range(4), 4).map(task).collect() == [0, 0, 0, 0]


def test_outside_a_spark_task_nothing_is_frozen():
    import gc

    from era5_contours.run.spark import steady_worker

    before = gc.get_freeze_count()
    steady_worker()
    assert gc.get_freeze_count() == before


@pytest.mark.spark
def test_a_task_freezes_what_the_worker_keeps_so_the_daemons_collection_skips_it(spark):
    # PySpark's daemon runs gc.collect() after each task of a reused worker: it walks
    # every tracked object not frozen. After steady_worker, the worker's imported
    # libraries are frozen and a collection walks only what the task itself creates.
    def task(_: int) -> tuple[int, int, int]:
        import gc

        import era5_contours.run.tasks  # noqa: F401 - the day's libraries, as a day task has them

        tracked_before = len(gc.get_objects())
        from era5_contours.run.spark import steady_worker

        steady_worker()
        return tracked_before, gc.get_freeze_count(), len(gc.get_objects())

    for before, frozen, after in spark.sparkContext.parallelize(range(2), 2).map(task).collect():
        assert before > 100_000  # xarray, pandas, shapely, pyarrow, matplotlib: many objects
        assert frozen >= before
        assert after < 1_000


@pytest.mark.spark
def test_a_tasks_own_garbage_is_collected_not_frozen_by_the_next_task(spark):
    # The freeze happens at a task's start, after the daemon's collection of the previous
    # task: reference cycles a task leaves behind must not pile up in the frozen
    # generation from one task to the next.
    def task(_: int) -> tuple[int, int]:
        import gc
        import os

        from era5_contours.run.spark import steady_worker

        steady_worker()
        frozen = gc.get_freeze_count()
        cycles = []
        for _ in range(5_000):
            cycle: list = []
            cycle.append(cycle)
            cycles.append(cycle)
        return os.getpid(), frozen

    sc = spark.sparkContext
    runs = [sc.parallelize([0], 1).map(task).collect()[0] for _ in range(6)]
    by_worker: dict[int, list[int]] = {}
    for pid, frozen in runs:
        by_worker.setdefault(pid, []).append(frozen)
    counts = max(by_worker.values(), key=len)
    assert len(counts) >= 3  # a reused worker ran several of the tasks
    # Each task left 5,000 cycles; none of them reached the next task's freeze.
    assert counts[-1] - counts[1] < 5_000

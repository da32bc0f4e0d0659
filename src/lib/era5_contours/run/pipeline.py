"""The contour job, sequenced: plan on the driver, work per day on the executors, commit.

1. The driver checks the run as a whole before it touches the catalog: the input lists
   at least one file, the output is writable, the tables open. Any of these failing is a
   :class:`~era5_common.errors.RunError` (the job prints one line and exits 2).
2. The executors read the input files' time coordinates, and the driver plans one
   day task per day with the files each variable's rule needs
   (:mod:`~era5_contours.run.planning`).
3. The executors run each day (:mod:`~era5_contours.run.tasks`): read the day's slices,
   compute the daily fields, contour them, and stage the GeoJSON, the PNG and the feature
   rows (Arrow IPC) under the run's staging folder; nothing about one (day, variable)
   ever raises. A day whose Spark task dies (a crashed or killed worker) is retried alone
   and, if it dies again, reported failed; the other days go on.
4. The driver takes the database's commit lease (:mod:`~era5_contours.commit.lease`); one task
   per (variable, month) then rewrites that partition of both tables as Iceberg data files
   (:mod:`~era5_contours.tables.months`), and :mod:`~era5_contours.commit.protocol` commits both tables
   and publishes the staged maps (removing those of days that are no longer ``ok``),
   recoverably. A run that fails before its commit leaves earlier rows and maps exactly as
   they were.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from era5_common import storage
from era5_common.errors import RunError
from era5_contours.commit.intent import CommitIntent
from era5_contours.commit.lease import CommitLease, LeaseLost, LeaseTimeout, lease_root
from era5_contours.commit.protocol import (
    CommitError,
    commit_run,
    finish_intent,
    make_intent,
    table_name,
)
from era5_contours.inputs import ncar, remote
from era5_contours.outputs import layout
from era5_contours.tables import catalog
from era5_contours.tables.months import (
    DayResult,
    MonthContext,
    MonthResult,
    MonthTask,
    month_tasks,
    replaced_pairs,
)
from era5_contours.tables.schema import CONTOUR_FEATURES, DAILY_SUMMARY

from .config import JobConfig
from .outcome import FAILED, INCOMPLETE, OK, VariableOutcome
from .planning import DayTask, FileInfo, inspect_file, plan_days
from .report import RunReport, report_dict
from .tasks import DayProcessor, RunContext, crashed_day, process_day, rewrite_month

if TYPE_CHECKING:
    from pyiceberg.table import Table
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

__all__ = ["FAILED", "INCOMPLETE", "OK", "RunReport", "report_dict", "run_contour_job"]


# --------------------------------------------------------------------------- driver


_PYTHON_ERROR = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit)): (.*)$")
_SPARK_CAUSE = re.compile(r"^Caused by: org\.apache\.spark\.\S*Exception: (.*)$")


def _first_line(exc: BaseException, limit: int = 300) -> str:
    """The one line that says what went wrong, also out of a Py4JJavaError.

    A failed Spark job carries the Java stack and the worker's Python traceback: the
    worker's own exception (``MemoryError: ...``) says most, else Spark's cause
    (``Python worker exited unexpectedly (crashed)``).
    """
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    python = [
        ln for ln in lines if _PYTHON_ERROR.match(ln) and not ln.startswith(("org.", "java."))
    ]
    causes = [m.group(1) for ln in lines if (m := _SPARK_CAUSE.match(ln))]
    if python:
        line = python[-1]
    elif causes:
        line = causes[-1]
    else:
        line = lines[0] if lines else type(exc).__name__
    return line[:limit]


def _run_days(
    sc: SparkContext, tasks: Sequence[DayTask], ctx: RunContext, processor: DayProcessor
) -> list[list[VariableOutcome]]:
    """One partition per day; if a task dies, each day of the batch runs alone once more."""
    try:
        return sc.parallelize(tasks, len(tasks)).map(lambda t: processor(t, ctx)).collect()
    except Exception as exc:  # noqa: BLE001 - Py4JJavaError: a task died; find which day
        if len(tasks) == 1:
            first_error = _first_line(exc)
        else:
            logger.error(
                "a task of days %s..%s died (%s); running those days one by one",
                tasks[0].day,
                tasks[-1].day,
                _first_line(exc),
            )
            first_error = None
    workers = max(1, min(len(tasks), sc.defaultParallelism))

    def alone(task: DayTask) -> list[VariableOutcome] | str:
        try:
            return sc.parallelize([task], 1).map(lambda t: processor(t, ctx)).collect()[0]
        except Exception as exc:  # noqa: BLE001 - this day's task died again
            return _first_line(exc)

    if first_error is not None:  # a single day: it died once already, try once more
        results = [alone(tasks[0])]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(alone, tasks))
    died = [r for r in results if isinstance(r, str)]
    if len(tasks) > 1 and len(died) == len(tasks):
        # Not one day's input: Spark itself fails (lost executors, broken workers).
        raise RunError(f"every Spark task fails, for every day: {died[0]}")
    return [
        crashed_day(task, ctx, r) if isinstance(r, str) else r
        for task, r in zip(tasks, results, strict=True)
    ]


@dataclass(frozen=True)
class _Input:
    """An input file, and the days that need it where the run knows them."""

    path: str
    serves: tuple[date, ...] = ()
    #: Why it cannot be read though a day needs it (a file missing from the NCAR copy).
    missing: str | None = None


def _list_inputs(config: JobConfig) -> list[_Input]:
    """The input files: listed, or named by the NSF NCAR copy's scheme (no listing)."""
    try:
        if ncar.is_copy(config.input_path):
            return _copy_files(config)
        files = storage.list_files(config.input_path)
    except RunError:
        raise
    except Exception as exc:
        raise RunError(f"cannot list the input {config.input_path}: {_first_line(exc)}") from exc
    if not files:
        raise RunError(f"no .nc files under the input {config.input_path}")
    return [_Input(f) for f in files]


def _copy_files(config: JobConfig) -> list[_Input]:
    """The NCAR copy's files the days need, each looked up (one HEAD) rather than listed."""
    expected, unmade = ncar.expected_files(config.input_path, config.days(), config.variables)
    for name, why in unmade.items():
        logger.error("%s: %s", name, why)
    if not expected:
        raise RunError(f"the NSF NCAR copy holds none of {', '.join(config.variables)}")
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda e: storage.exists(e.path), expected))
    out = []
    for file, present in zip(expected, found, strict=True):
        if present:
            out.append(_Input(file.path, file.days))
            continue
        days = f"{file.days[0]}..{file.days[-1]}" if len(file.days) > 1 else str(file.days[0])
        logger.error(
            "%s is not in the copy: %s of days %s cannot be made", file.path, file.quantity, days
        )
        out.append(_Input(file.path, file.days, missing="not in the NSF NCAR copy"))
    if not any(i.missing is None for i in out):
        raise RunError(f"none of the {len(out)} files the days need is in {config.input_path}")
    logger.info(
        "NSF NCAR copy: %d files named for %d days, %d missing",
        len(out),
        len(config.days()),
        sum(i.missing is not None for i in out),
    )
    return out


def _prepare_staging(config: JobConfig, attempt: str) -> str:
    """The run's staging folder, with a note saying whose it is; proves the output writable."""
    staging = layout.staging_path(config.output_path, attempt)
    note = {
        "run_id": config.run_id,
        "attempt": attempt,
        "started": datetime.now(timezone.utc).isoformat(),
        "host": os.uname().nodename,
        "pid": os.getpid(),
    }
    try:
        storage.write_bytes(storage.join(staging, "_run.json"), json.dumps(note).encode())
    except Exception as exc:
        raise RunError(
            f"the output {config.output_path} is not writable: {_first_line(exc)}"
        ) from exc
    return staging


def _open_tables(config: JobConfig) -> dict[str, Any]:
    try:
        cat = catalog.load_catalog(
            config.catalog_type,
            config.warehouse_path,
            glue_endpoint=config.aws_endpoint_url or None,
            s3_endpoint=config.aws_endpoint_url or None,
        )
        return {
            t.name: catalog.ensure_table(cat, config.database, t)
            for t in (CONTOUR_FEATURES, DAILY_SUMMARY)
        }
    except Exception as exc:
        raise RunError(
            f"cannot open the Iceberg tables ({config.catalog_type} catalog at "
            f"{config.warehouse_path}): {' '.join(str(exc).split())}"
        ) from exc


def run_contour_job(
    spark: SparkSession,
    config: JobConfig,
    *,
    batch_days: int | None = None,
    day_processor: DayProcessor | None = None,
) -> RunReport:
    """Run the job on a SparkSession (local or Glue), commit the tables, publish the maps.

    Parameters
    ----------
    batch_days
        How many days' outcomes the driver collects at once (default 16 per core): a
        progress line per batch.
    day_processor
        What runs per day on the executors (default :func:`process_day`).

    Raises
    ------
    RunError
        Only for problems of the run as a whole (no input, unwritable output, catalog
        unreachable, commit lease not had in time, commit failure); bad input for a day
        becomes that day's ``failed`` summary row. Before raising, the run removes what it
        staged: earlier rows and maps stay as they were.
    """
    t_start = time.time()
    processor = day_processor or process_day
    report = RunReport(run_id=config.run_id, allow_failed_days=config.allow_failed_days)
    sc = spark.sparkContext
    config.use_storage()

    files = _list_inputs(config)
    attempt = f"{config.run_id}-{uuid.uuid4().hex[:8]}"
    staging = _prepare_staging(config, attempt)
    lease: CommitLease | None = None
    tables: dict[str, Table] | None = None
    try:
        tables = _open_tables(config)
        ctx = RunContext(config=config, staging=staging, attempt=attempt)
        outcomes = _process_days(sc, files, ctx, processor, report, batch_days)

        t0 = time.time()
        lease = _take_lease(config, attempt, tables)
        report.seconds["lease"] = time.time() - t0

        t0 = time.time()
        months, results = _write_months(sc, tables, outcomes, attempt)
        report.seconds["write"] = time.time() - t0

        t0 = time.time()
        published = _commit(ctx, lease, tables, outcomes, months, results, report)
        lease.release()
        lease = None
        report.seconds["commit"] = time.time() - t0
    except BaseException:
        _discard_run(staging, lease, tables)
        raise

    logger.info("committed both tables and published %d maps", published)
    report.outputs = {
        "GeoJSON": storage.join(config.output_path, layout.CONTOURS),
        "PNG": storage.join(config.output_path, layout.PLOTS),
        "Iceberg": f"{config.catalog_type} catalog at {config.warehouse_path}, "
        f"tables {config.database}.{CONTOUR_FEATURES.name}, {config.database}.{DAILY_SUMMARY.name}",
    }
    report.seconds["total"] = time.time() - t_start
    return report


def _commit(
    ctx: RunContext,
    lease: CommitLease,
    tables: dict[str, Table],
    outcomes: Sequence[VariableOutcome],
    months: Sequence[MonthTask],
    results: Sequence[MonthResult],
    report: RunReport,
) -> int:
    """Commit the rewritten months to both tables and publish the maps; how many.

    Raises
    ------
    RunError
        When a commit fails or the lease is lost (nothing of the run is committed then).
    """
    committing = _apply_kept(outcomes, results)
    report.note_kept(outcomes)
    features, summary = tables[CONTOUR_FEATURES.name], tables[DAILY_SUMMARY.name]
    files_by_table = {
        table_name(features): [f for r in results for f in r.features_files],
        table_name(summary): [f for r in results for f in r.summary_files],
    }
    report.table_files = {name: len(fs) for name, fs in files_by_table.items()}
    publish, unpublish = _map_changes(committing)
    intent = make_intent(
        run_id=ctx.config.run_id,
        attempt=ctx.attempt,
        tables=[features, summary],
        files=files_by_table,
        staging=ctx.staging,
        output_path=ctx.config.output_path,
        publish=publish,
        unpublish=unpublish,
    )
    try:
        return commit_run(
            lease,
            [features, summary],
            files_by_table,
            replaced_pairs(months),
            intent,
            properties=_snapshot_properties(ctx.config),
        )
    except (CommitError, LeaseLost) as exc:
        raise RunError(str(exc)) from exc


def _snapshot_properties(config: JobConfig) -> dict[str, str]:
    """What the run's snapshots say of it beyond its id: the area it mapped, if one."""
    return {"area": config.area.text()} if config.area is not None else {}


def _process_days(
    sc: SparkContext,
    files: Sequence[_Input],
    ctx: RunContext,
    processor: DayProcessor,
    report: RunReport,
    batch_days: int | None,
) -> list[VariableOutcome]:
    """Plan the days from the inputs' time ranges and run them on the executors."""
    config = ctx.config
    t0 = time.time()
    infos = _inspect_inputs(sc, files, config)
    report.seconds["inspect"] = time.time() - t0
    tasks = plan_days(config.days(), config.variables, infos)
    report.days = len(tasks)
    logger.info(
        "run %s: %d days, %d input files, variables %s",
        config.run_id,
        len(tasks),
        len(files),
        ",".join(config.variables),
    )
    outcomes: list[VariableOutcome] = []
    t0 = time.time()
    # One partition per day, so Spark balances the days over the executors; a batch's
    # outcomes (small: no rows) come back together for a progress line. (toLocalIterator
    # would run one partition at a time: no parallelism.) The next batch is submitted
    # while one runs, so that cores freed at a batch's end take its days instead of
    # waiting for the batch's last day (Spark's FIFO scheduler runs the older job's tasks
    # first). Each machine keeps the pages of S3 inputs its workers fetched
    # (remote.SharedCopy), so days that share a monthly file share its bytes.
    batch = max(1, batch_days or 16 * sc.defaultParallelism)
    batches = [tasks[b0 : b0 + batch] for b0 in range(0, len(tasks), batch)]
    done = 0

    def collect(results: list[list[VariableOutcome]]) -> None:
        nonlocal done
        for day_outcomes in results:
            done += 1
            report.add_day(day_outcomes)
            outcomes.extend(day_outcomes)
            logger.info(
                "[%d/%d] %s %s",
                done,
                len(tasks),
                day_outcomes[0].day if day_outcomes else "?",
                ", ".join(
                    f"{o.variable} {o.status} ({o.feature_count} features)" for o in day_outcomes
                ),
            )

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            running: deque[Future[list[list[VariableOutcome]]]] = deque()
            for days in batches:
                running.append(pool.submit(_run_days, sc, days, ctx, processor))
                if len(running) == 2:
                    collect(running.popleft().result())
            while running:
                collect(running.popleft().result())
    finally:
        # The days are done (or the run failed): remove the pages of S3 inputs the
        # run kept on each machine.
        if storage.is_s3(ctx.config.input_path):
            remote.drop_run_folders(sc, ctx.attempt)
    report.seconds["process"] = time.time() - t0
    return outcomes


def _inspect_inputs(sc: SparkContext, files: Sequence[_Input], config: JobConfig) -> list[FileInfo]:
    """Every input's variables, times and grid, read by the executors (coordinates only).

    Raises
    ------
    RunError
        When the run's area holds no cell of any input's grid.
    """
    readable = [f for f in files if f.missing is None]
    infos: list[FileInfo] = (
        sc.parallelize(readable, min(len(readable), 4 * sc.defaultParallelism))
        .map(lambda f: _inspect(f, config))
        .collect()
    )
    infos += [FileInfo(f.path, error=f.missing, serves=f.serves) for f in files if f.missing]
    for info in infos:
        if info.error:
            logger.error("unreadable input %s: %s", info.path, info.error)
    if config.area is not None and not any(i.in_area and not i.error for i in infos):
        raise RunError(
            f"the area {config.area.text()} holds no cell of any input's grid: nothing to map"
        )
    return infos


def _inspect(file: _Input, config: JobConfig) -> FileInfo:
    """An input's coordinates, on an executor."""
    config.use_storage()
    return inspect_file(file.path, config.area, file.serves)


def _take_lease(config: JobConfig, attempt: str, tables: dict[str, Table]) -> CommitLease:
    """The database's commit lease, finishing what a dead holder left pending."""
    lease = CommitLease(
        lease_root(config.warehouse_path, config.database),
        {"run_id": config.run_id, "attempt": attempt},
        ttl=config.commit_lease_seconds,
    )
    by_name = {table_name(t): t for t in tables.values()}

    def finish(intents: list[CommitIntent]) -> None:
        for intent in intents:
            finish_intent(intent, by_name)

    try:
        lease.acquire(config.commit_wait_seconds, on_inherit=finish)
    except LeaseTimeout as exc:
        raise RunError(f"{exc}: nothing of this run is committed") from exc
    except Exception as exc:
        raise RunError(f"cannot take the commit lease: {_first_line(exc)}") from exc
    for table in tables.values():
        table.refresh()  # what the month rewrite reads and the commit replaces
    return lease


def _write_months(
    sc: SparkContext, tables: dict[str, Table], outcomes: Sequence[VariableOutcome], attempt: str
) -> tuple[list[MonthTask], list[MonthResult]]:
    """Rewrite every (variable, month) partition the run touched, one task per partition."""
    months = month_tasks(
        (o.variable, DayResult(o.day, o.status, o.rows, o.summary)) for o in outcomes
    )
    if not months:
        return [], []
    features, summary = tables[CONTOUR_FEATURES.name], tables[DAILY_SUMMARY.name]
    mctx = MonthContext(
        features_metadata=features.metadata,
        features_io=features.io,
        summary_metadata=summary.metadata,
        summary_io=summary.io,
        attempt=attempt,
    )
    try:
        results = (
            sc.parallelize(months, len(months)).map(lambda m: rewrite_month(m, mctx)).collect()
        )
    except Exception as exc:
        raise RunError(f"writing the table files failed: {_first_line(exc)}") from exc
    logger.info(
        "wrote %d (variable, month) partitions: %d + %d data files",
        len(results),
        sum(len(r.features_files) for r in results),
        sum(len(r.summary_files) for r in results),
    )
    return months, results


def _apply_kept(
    outcomes: Sequence[VariableOutcome], results: Sequence[MonthResult]
) -> list[VariableOutcome]:
    """Mark the outcomes whose earlier ok result is kept; the others (which commit)."""
    kept = {(r.variable, day): run_id for r in results for day, run_id in r.kept.items()}
    committing = []
    for out in outcomes:
        run_id = kept.get((out.variable, out.day))
        if run_id is None:
            committing.append(out)
            continue
        out.kept_run_id = run_id
        logger.warning(
            "%s %s is %s in this run: the ok result of run %s is kept",
            out.day,
            out.variable,
            out.status,
            run_id,
        )
    return committing


def _map_changes(committing: Sequence[VariableOutcome]) -> tuple[list[str], list[str]]:
    """Maps to publish from staging, and published maps to remove (relative paths)."""
    publish: list[str] = []
    unpublish: list[str] = []
    for out in committing:
        for staged, rel in (
            (out.geojson, layout.geojson_relpath(out.variable, out.day)),
            (out.png, layout.png_relpath(out.variable, out.day)),
        ):
            # No new map: an earlier one would contradict the committed rows.
            (publish if staged else unpublish).append(rel)
    return publish, unpublish


def _discard_run(staging: str, lease: CommitLease | None, tables: dict[str, Table] | None) -> None:
    """Remove what a run that does not commit has staged; let the lease go (best effort).

    Interrupted inside its commit (its intent pending), the run finishes the intent
    itself if it can, else leaves it in the lease for the next run. Table data files of a
    month rewrite that never committed are orphans for the maintenance command.
    """
    if lease is not None and lease.number is not None and lease.pending:
        try:
            by_name = {table_name(t): t for t in (tables or {}).values()}
            for intent in lease.pending:
                finish_intent(intent, by_name)
            lease.set_pending([])
        except BaseException:
            logger.error(
                "interrupted inside its commit: the next run to take the lease finishes it"
            )
            lease.abandon()
            raise
    try:
        storage.delete_prefix(staging)
    except Exception:  # noqa: BLE001
        logger.warning("could not remove the staging folder %s", staging)
    if lease is not None and lease.number is not None:
        try:
            lease.release()
        except Exception:  # noqa: BLE001 - it expires by itself
            logger.warning("could not release the commit lease; it expires by itself")
            lease.abandon()

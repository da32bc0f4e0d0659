"""The contour job, sequenced: plan on the driver, work per day on the executors, commit.

1. The driver checks the run as a whole before it touches the catalog: the input lists
   at least one file, the output is writable, the tables open. Any of these failing is a
   :class:`~era5_contours.errors.RunError` (the job prints one line and exits 2).
2. The executors read the input files' time coordinates (:func:`inspect_file`), and the
   driver plans one :class:`DayTask` per day with the files each variable's rule needs
   (a day's tp needs D+1 00 UTC, which may be in the next month's file; t2m and tp may
   come from separate files).
3. The executors run :func:`process_day`: read the day's slices, compute the daily fields,
   contour them, and stage the GeoJSON, the PNG and the feature rows (Arrow IPC) under the
   run's staging folder. Nothing about one (day, variable) ever raises: its
   :class:`VariableOutcome` says ``failed`` and why, with its ``daily_summary`` row. A day
   whose Spark task dies (a crashed or killed worker) is retried alone and, if it dies
   again, reported failed; the other days go on.
4. The driver takes the database's commit lease (:mod:`~era5_contours.lease`); one task
   per (variable, month) then rewrites that partition of both tables as Iceberg data files
   (:mod:`~era5_contours.months`), and :mod:`~era5_contours.commits` commits both tables
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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import xarray as xr

from . import catalog, layout, storage
from .commits import CommitError, commit_run, finish_intent, make_intent, table_name
from .config import JobConfig
from .contours import contour_bands, contour_lines
from .daily import DailyField, daily_field
from .datasets import detect_dataset
from .errors import IncompleteDayError, InputError, RunError
from .features import feature_rows
from .geojson import dumps, feature_collection
from .lease import CommitLease, LeaseLost, LeaseTimeout, lease_root
from .months import (
    DayResult,
    MonthContext,
    MonthResult,
    merge_month,
    month_tasks,
    replaced_pairs,
    write_rows,
)
from .reading import NamedSource, file_time_range, load_day
from .report import FAILED, INCOMPLETE, OK, RunReport
from .schema import CONTOUR_FEATURES, DAILY_SUMMARY
from .variables import get, sample_window, window_overlaps

if TYPE_CHECKING:
    from pyiceberg.table import Table

logger = logging.getLogger(__name__)

__all__ = ["FAILED", "INCOMPLETE", "OK", "RunReport", "run_contour_job"]


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class FileInfo:
    """What the planner knows of an input file (from its coordinates only)."""

    path: str
    variables: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class DayTask:
    """One day to process: per variable, the files whose times touch its rule's window."""

    day: date
    files: dict[str, tuple[str, ...]]
    problems: dict[str, str] = field(default_factory=dict)
    #: Inputs that could not be read at planning: they may hold samples this day lacks.
    unreadable: tuple[str, ...] = ()


def inspect_file(path: str, endpoint_url: str = "") -> FileInfo:
    """Read a file's variables and time range (coordinates only); never raises."""
    storage.use_endpoint(endpoint_url)
    try:
        info = file_time_range(storage.local_copy(path))
    except Exception as exc:  # noqa: BLE001 - an unreadable input is reported by the days that need it
        return FileInfo(path=path, error=f"{type(exc).__name__}: {exc}")
    return FileInfo(path, tuple(info["variables"]), info["start"], info["end"])


def plan_days(
    days: Sequence[date], variables: Sequence[str], infos: Iterable[FileInfo]
) -> list[DayTask]:
    """Assign files to (day, variable): those holding times in the variable's window."""
    infos = list(infos)
    readable = [i for i in infos if i.error is None and i.start is not None]
    unreadable = tuple(f"{i.path} ({i.error})" for i in infos if i.error is not None)
    tasks = []
    for day in days:
        files: dict[str, tuple[str, ...]] = {}
        problems: dict[str, str] = {}
        for v in variables:
            start, end, closed = sample_window(v, day)
            holding = [i for i in readable if v in i.variables]
            chosen = tuple(
                i.path
                for i in holding
                if window_overlaps(i.start, i.end, start, end, closed)  # type: ignore[arg-type]
            )
            files[v] = chosen
            if not chosen:
                problems[v] = _no_input_text(v, start, end, closed, holding)
        tasks.append(DayTask(day=day, files=files, problems=problems, unreadable=unreadable))
    return tasks


def _no_input_text(
    variable: str, start: datetime, end: datetime, closed: str, holding: Sequence[FileInfo]
) -> str:
    left, right = ("[", ")") if closed == "left" else ("(", "]")
    text = (
        f"no readable input file holds {variable} samples in {left}{start:%Y-%m-%d %H:%M}, "
        f"{end:%Y-%m-%d %H:%M}{right} UTC"
    )
    if holding:
        first = min(i.start for i in holding)  # type: ignore[type-var]
        last = max(i.end for i in holding)  # type: ignore[type-var]
        text += (
            f" (the inputs hold {variable} from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M})"
        )
    else:
        text += f" (no readable input holds {variable} at all)"
    return text


def _unreadable_note(task: DayTask) -> str:
    return "; unreadable inputs that may hold the missing samples: " + "; ".join(task.unreadable)


# --------------------------------------------------------------------------- per day


@dataclass(frozen=True)
class RunContext:
    """What every task of one run needs besides its day (pickled to the executors)."""

    config: JobConfig
    #: This run's staging folder for GeoJSON, PNG and feature rows (until the commit).
    staging: str
    #: Unique per run (also per rerun under the same run_id): names its files.
    attempt: str


@dataclass
class VariableOutcome:
    """What an executor reports for one (day, variable): small, no feature rows."""

    day: date
    variable: str
    status: str
    error: str | None = None
    samples: int = 0
    feature_count: int = 0
    #: The staged feature rows (Arrow IPC), written into the tables by the month rewrite.
    rows: str | None = None
    #: Staged outputs, published to their final paths once the tables commit.
    geojson: str | None = None
    png: str | None = None
    #: The daily_summary row (column -> value): the driver writes and commits these.
    summary: dict[str, Any] = field(default_factory=dict)
    #: Set by the driver when this outcome is not ok and an earlier run's ok result of the
    #: same (day, variable) is kept instead (the run_id of that result).
    kept_run_id: str | None = None
    seconds: float = 0.0
    worker: str = ""
    started: float = 0.0
    finished: float = 0.0


_STAT_KEYS = ("field_min", "field_mean", "field_mean_weighted", "field_max")


def field_statistics(data: xr.DataArray) -> dict[str, float | None]:
    """min, plain mean, cos(latitude)-weighted mean and max over valid cells."""
    values = np.asarray(data.values, dtype=float)
    valid = np.isfinite(values)
    if not valid.any():
        return dict.fromkeys(_STAT_KEYS)
    weights = np.cos(np.deg2rad(data["latitude"].values))[:, None] * valid
    return {
        "field_min": float(values[valid].min()),
        "field_mean": float(values[valid].mean()),
        "field_mean_weighted": float(
            (np.where(valid, values, 0.0) * weights).sum() / weights.sum()
        ),
        "field_max": float(values[valid].max()),
    }


def summary_record(
    outcome: VariableOutcome,
    field_: DailyField | None,
    source_files: Sequence[str],
    run_id: str,
) -> dict[str, Any]:
    """The daily_summary row of one (day, variable), as column -> value."""
    stats = field_statistics(field_.data) if field_ is not None else dict.fromkeys(_STAT_KEYS)
    return {
        "day": outcome.day,
        "variable": outcome.variable,
        "units": field_.units if field_ is not None else None,
        "dataset": field_.dataset if field_ is not None else None,
        "samples": outcome.samples,
        "complete": bool(field_ is not None and field_.complete),
        "status": outcome.status,
        "error": outcome.error,
        **stats,
        "feature_count": outcome.feature_count,
        "source_files": list(source_files),
        "run_id": run_id,
        "processed_at": datetime.now(timezone.utc),
    }


def summary_table(records: Sequence[dict[str, Any]]) -> pa.Table:
    """daily_summary rows as an Arrow table of the table's schema."""
    return pa.Table.from_pylist(list(records), schema=DAILY_SUMMARY.arrow_schema)


def contour_outputs(
    field_: DailyField, config: JobConfig, source_files: Sequence[str]
) -> tuple[pa.Table, bytes, bytes | None]:
    """Feature rows, GeoJSON bytes and PNG bytes of one daily field (no IO)."""
    data = field_.data
    if not np.isfinite(data.values).any():
        raise InputError(
            "the daily field is NaN everywhere (every cell lacks a value in at least one "
            "of its samples)",
            day=field_.day,
            variable=field_.variable,
        )
    scheme = config.schemes[field_.variable]
    levels = scheme.levels_for(data.values)
    lon, lat, values = data["longitude"].values, data["latitude"].values, data.values
    opts = {"precision": config.precision, "simplify_tolerance": config.simplify_tolerance}
    bands = contour_bands(lon, lat, values, levels, **opts)
    lines = contour_lines(lon, lat, values, levels, **opts) if config.lines else []
    common = {
        "variable": field_.variable,
        "units": field_.units,
        "day": field_.day,
        "dataset": field_.dataset,
    }
    collection = feature_collection(
        bands,
        lines,
        levels=levels,
        cmap=scheme.cmap,
        precision=config.precision,
        extra_properties={"complete": field_.complete, "samples": field_.samples},
        **common,
    )
    rows = feature_rows(
        bands,
        lines,
        source_files=source_files,
        run_id=config.run_id,
        precision=config.precision,
        **common,
    )
    png = None
    if config.plots:
        from .plots import render_map_png  # matplotlib only where plots are wanted

        png = render_map_png(data, levels, cmap=scheme.cmap)
    return rows, dumps(collection).encode(), png


def _error_text(exc: BaseException, day: date, variable: str) -> str:
    if isinstance(exc, InputError):
        return str(exc)
    return f"day {day}, variable {variable}: {type(exc).__name__}: {exc}"


@dataclass
class _Inputs:
    """One variable's samples for the day, or why there are none."""

    data: xr.Dataset | None
    error: str | None
    files: tuple[str, ...]
    seconds: float


def read_inputs(task: DayTask, ctx: RunContext) -> dict[str, _Inputs]:
    """Each variable's samples of the day (never raises: failures become errors)."""
    out: dict[str, _Inputs] = {}
    for v in ctx.config.variables:
        t0 = time.time()
        files = task.files.get(v, ())
        if v in task.problems:
            note = _unreadable_note(task) if task.unreadable else ""
            error = str(InputError(task.problems[v] + note, day=task.day, variable=v))
            out[v] = _Inputs(None, error, files, time.time() - t0)
            continue
        try:
            sources = [_fetch(f, task.day, v) for f in files]
            data = load_day(sources, task.day, [v], assume_units=ctx.config.assume_units)
            out[v] = _Inputs(data, None, files, time.time() - t0)
        except Exception as exc:  # noqa: BLE001 - a failure here is this day's, not the run's
            out[v] = _Inputs(None, _error_text(exc, task.day, v), files, time.time() - t0)
    return out


def _fetch(path: str, day: date, variable: str) -> NamedSource:
    try:
        local = storage.local_copy(path)
    except Exception as exc:
        raise InputError(
            f"cannot fetch ({type(exc).__name__}: {exc})", file=path, day=day, variable=variable
        ) from exc
    # Messages and lineage name the input (an S3 URI), not the local cache copy.
    return NamedSource(name=path, path=local)


def _dataset_of_day(task: DayTask, inputs: dict[str, _Inputs], ctx: RunContext) -> str:
    """ERA5 or ERA5-Land, asked of the day's variables by their probe rank.

    tp's accumulation decides best; t2m has the sea NaN and the grid.
    """
    for v in sorted(inputs, key=lambda name: get(name).probe_rank):
        data = inputs[v].data if v in inputs else None
        if data is None:
            continue
        try:
            detection = detect_dataset(data, ctx.config.dataset)
        except Exception as exc:  # noqa: BLE001 - undecidable here: try the other variable
            logger.warning("%s: dataset detection from %s failed: %s", task.day, v, exc)
            continue
        logger.info("%s: %s (%s)", task.day, detection.dataset, detection.reason)
        return detection.dataset
    return ctx.config.dataset if ctx.config.dataset != "auto" else "era5"


def process_variable(
    task: DayTask, variable: str, inputs: _Inputs, dataset: str, ctx: RunContext
) -> VariableOutcome:
    """Daily field, contours, staged maps and feature data files of one (day, variable).

    Never raises for anything about this (day, variable): the outcome says what failed,
    and what it had staged is removed.
    """
    config = ctx.config
    t0 = time.time()
    out = VariableOutcome(day=task.day, variable=variable, status=FAILED)
    sources: Sequence[str] = inputs.files
    field_: DailyField | None = None
    try:
        if inputs.data is None:
            raise _AlreadyFailed(inputs.error or "no input")
        sources = list(inputs.data.attrs.get("source_files", inputs.files))
        field_ = daily_field(
            inputs.data, variable, task.day, dataset, min_samples=config.min_samples_per_day
        )
        rows, geojson_bytes, png = contour_outputs(field_, config, sources)
        out.geojson = storage.write_bytes(
            layout.geojson_path(ctx.staging, variable, task.day), geojson_bytes
        )
        if png is not None:
            out.png = storage.write_bytes(layout.png_path(ctx.staging, variable, task.day), png)
        if rows.num_rows:
            out.rows = write_rows(layout.rows_path(ctx.staging, variable, task.day), rows)
        out.status, out.samples, out.feature_count = OK, field_.samples, rows.num_rows
        if not field_.complete:
            out.error = f"accepted with {field_.samples} of {field_.required} samples"
    except IncompleteDayError as exc:
        # Missing samples are a gap in the data, unless an input was unreadable: then
        # they are bad input, and the day fails naming the file.
        out.status = FAILED if task.unreadable else INCOMPLETE
        out.error = str(exc) + (_unreadable_note(task) if task.unreadable else "")
        out.samples, field_ = exc.samples, None
    except _AlreadyFailed as exc:
        out.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - any failure here is this day's, not the run's
        out.status, out.error, field_ = FAILED, _error_text(exc, task.day, variable), None
    if out.status != OK:
        out.samples = out.samples if out.status == INCOMPLETE else 0
        _discard_staged(out)
        (logger.error if out.status == FAILED else logger.warning)("%s", out.error)
    out.summary = summary_record(out, field_, sources, config.run_id)
    out.finished = time.time()
    # Its own reading plus its own computing and writing: the variables' seconds add
    # up to the task's work (dataset detection aside).
    out.seconds = inputs.seconds + out.finished - t0
    return out


class _AlreadyFailed(Exception):
    """The inputs of this (day, variable) failed already; carries their error text."""


def _discard_staged(out: VariableOutcome) -> None:
    for attr in ("geojson", "png", "rows"):
        path = getattr(out, attr)
        if path:
            _discard_staged_file(path)
            setattr(out, attr, None)
    out.feature_count = 0


def _discard_staged_file(path: str) -> None:
    try:
        storage.delete(path)
    except Exception:  # noqa: BLE001 - an orphan at worst, for maintenance to remove
        logger.warning("could not remove staged file %s", path)


def process_day(task: DayTask, ctx: RunContext) -> list[VariableOutcome]:
    """Everything for one day, on an executor: one outcome per variable, never raises."""
    storage.use_endpoint(ctx.config.aws_endpoint_url)
    worker = f"{os.uname().nodename}:{os.getpid()}"
    started = time.time()
    inputs = read_inputs(task, ctx)
    dataset = _dataset_of_day(task, inputs, ctx)
    outcomes = []
    for v in ctx.config.variables:
        out = process_variable(task, v, inputs[v], dataset, ctx)
        out.worker, out.started = worker, started
        outcomes.append(out)
    return outcomes


def crashed_day(task: DayTask, ctx: RunContext, error: str) -> list[VariableOutcome]:
    """Outcomes of a day whose Spark task died twice (worker crash, out of memory)."""
    outcomes = []
    for v in ctx.config.variables:
        out = VariableOutcome(
            day=task.day,
            variable=v,
            status=FAILED,
            error=str(
                InputError(
                    f"the task processing this day died twice ({error}); its inputs may "
                    "crash the NetCDF library or need more memory than a worker has",
                    day=task.day,
                    variable=v,
                )
            ),
        )
        out.summary = summary_record(out, None, task.files.get(v, ()), ctx.config.run_id)
        outcomes.append(out)
    return outcomes


# --------------------------------------------------------------------------- driver


DayProcessor = Callable[[DayTask, RunContext], list[VariableOutcome]]


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


def _run_days(sc, tasks: Sequence[DayTask], ctx: RunContext, processor: DayProcessor):
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


def _list_inputs(config: JobConfig) -> list[str]:
    try:
        files = storage.list_files(config.input_path)
    except Exception as exc:
        raise RunError(f"cannot list the input {config.input_path}: {_first_line(exc)}") from exc
    if not files:
        raise RunError(f"no .nc files under the input {config.input_path}")
    return files


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
    spark,
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
    storage.use_endpoint(config.aws_endpoint_url)

    files = _list_inputs(config)
    attempt = f"{config.run_id}-{uuid.uuid4().hex[:8]}"
    staging = _prepare_staging(config, attempt)
    lease: CommitLease | None = None
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
            run_id=config.run_id,
            attempt=attempt,
            tables=[features, summary],
            files=files_by_table,
            staging=staging,
            output_path=config.output_path,
            publish=publish,
            unpublish=unpublish,
        )
        try:
            published = commit_run(
                lease, [features, summary], files_by_table, replaced_pairs(months), intent
            )
        except (CommitError, LeaseLost) as exc:
            raise RunError(str(exc)) from exc
        lease.release()
        lease = None
        report.seconds["commit"] = time.time() - t0
    except BaseException:
        _discard_run(staging, lease, locals().get("tables"))
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


def _process_days(
    sc,
    files: Sequence[str],
    ctx: RunContext,
    processor: DayProcessor,
    report: RunReport,
    batch_days: int | None,
) -> list[VariableOutcome]:
    """Plan the days from the inputs' time ranges and run them on the executors."""
    config = ctx.config
    t0 = time.time()
    infos = (
        sc.parallelize(files, min(len(files), 4 * sc.defaultParallelism))
        .map(lambda path: inspect_file(path, config.aws_endpoint_url))
        .collect()
    )
    report.seconds["inspect"] = time.time() - t0
    for info in infos:
        if info.error:
            logger.error("unreadable input %s: %s", info.path, info.error)

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
    # would run one partition at a time: no parallelism.)
    batch = max(1, batch_days or 16 * sc.defaultParallelism)
    done = 0
    for b0 in range(0, len(tasks), batch):
        for day_outcomes in _run_days(sc, tasks[b0 : b0 + batch], ctx, processor):
            done += 1
            report.add_day(day_outcomes)
            outcomes += day_outcomes
            logger.info(
                "[%d/%d] %s %s",
                done,
                len(tasks),
                day_outcomes[0].day if day_outcomes else "?",
                ", ".join(
                    f"{o.variable} {o.status} ({o.feature_count} features)" for o in day_outcomes
                ),
            )
    report.seconds["process"] = time.time() - t0
    return outcomes


def _take_lease(config: JobConfig, attempt: str, tables: dict[str, Table]) -> CommitLease:
    """The database's commit lease, finishing what a dead holder left pending."""
    lease = CommitLease(
        lease_root(config.warehouse_path, config.database),
        {"run_id": config.run_id, "attempt": attempt},
        ttl=config.commit_lease_seconds,
    )
    by_name = {table_name(t): t for t in tables.values()}

    def finish(intents: list[dict[str, Any]]) -> None:
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
    sc, tables: dict[str, Table], outcomes: Sequence[VariableOutcome], attempt: str
) -> tuple[list, list[MonthResult]]:
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
        results = sc.parallelize(months, len(months)).map(lambda m: merge_month(m, mctx)).collect()
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
    publish, unpublish = [], []
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


def report_dict(report: RunReport) -> dict[str, Any]:
    """JSON-friendly form of a report (benchmarks and tests)."""
    out = asdict(report)
    out.pop("_intervals", None)
    out.pop("_workers", None)
    out["exit_code"] = report.exit_code
    return out

"""The contour job, sequenced: plan on the driver, work per day on the executors, commit.

1. The driver lists the input files; the executors read their time coordinates
   (:func:`inspect_file`), and the driver plans one :class:`DayTask` per day with the
   files each variable needs (a day's ERA5 tp needs D+1 00 UTC, which may be in the next
   month's file; t2m and tp may come from separate files).
2. The executors run :func:`process_day`: read only the day's slice, compute the daily
   fields, contour them, write the GeoJSON and PNG atomically and the table rows as
   Parquet files in the tables' data folders, and hand back only small outcome records.
3. The driver commits all files of the run in one transaction per table, replacing the
   rows of every (day, variable) it processed, so reruns never duplicate and a failed run
   leaves the tables as they were.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import xarray as xr

from . import catalog, storage
from .config import JobConfig
from .contours import contour_bands, contour_lines
from .daily import DailyField, IncompleteDayError, daily_field
from .datasets import detect_dataset
from .features import feature_rows
from .geojson import dumps, feature_collection
from .reading import InputError, NamedSource, file_time_range, load_day
from .schema import CONTOUR_FEATURES, DAILY_SUMMARY

logger = logging.getLogger(__name__)

OK, INCOMPLETE, FAILED = "ok", "incomplete", "failed"


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
    """One day to process: per variable, the files whose times touch the day's window."""

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
    """Assign files to days: a file serves day D if it holds times in [D 00, D+1 00]."""
    infos = list(infos)
    readable = [i for i in infos if i.error is None and i.start is not None]
    unreadable = tuple(f"{i.path} ({i.error})" for i in infos if i.error is not None)
    tasks = []
    for day in days:
        start = datetime(day.year, day.month, day.day)
        end = start + timedelta(days=1)
        files: dict[str, tuple[str, ...]] = {}
        problems: dict[str, str] = {}
        for v in variables:
            chosen = tuple(
                i.path
                for i in readable
                if v in i.variables and i.start <= end and i.end >= start  # type: ignore[operator]
            )
            files[v] = chosen
            if not chosen:
                problems[v] = "no readable input file covers this day"
        tasks.append(DayTask(day=day, files=files, problems=problems, unreadable=unreadable))
    return tasks


def _unreadable_note(task: DayTask) -> str:
    return "; unreadable inputs that may hold the missing samples: " + "; ".join(task.unreadable)


# --------------------------------------------------------------------------- per day


@dataclass
class VariableOutcome:
    """What an executor reports for one (day, variable): small, no rows."""

    day: date
    variable: str
    status: str
    error: str | None = None
    samples: int = 0
    feature_count: int = 0
    feature_file: str | None = None
    summary_file: str | None = None
    geojson: str | None = None
    png: str | None = None
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


def summary_row(
    day: date,
    variable: str,
    outcome: VariableOutcome,
    field_: DailyField | None,
    source_files: Sequence[str],
    run_id: str,
) -> pa.Table:
    """The daily_summary row of one (day, variable)."""
    stats = field_statistics(field_.data) if field_ is not None else dict.fromkeys(_STAT_KEYS)
    row: dict[str, Any] = {
        "day": day,
        "variable": variable,
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
    return pa.Table.from_pylist([row], schema=DAILY_SUMMARY.arrow_schema)


def contour_outputs(
    field_: DailyField, config: JobConfig, source_files: Sequence[str]
) -> tuple[pa.Table, bytes, bytes | None]:
    """Feature rows, GeoJSON bytes and PNG bytes of one daily field (no IO)."""
    data = field_.data
    if not np.isfinite(data.values).any():
        raise InputError(
            "the daily field is NaN everywhere", day=field_.day, variable=field_.variable
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


def _load(files: Sequence[str], day: date, variable: str) -> xr.Dataset:
    sources = []
    for f in files:
        try:
            local = storage.local_copy(f)
        except Exception as exc:
            raise InputError(
                f"cannot fetch ({type(exc).__name__}: {exc})", file=f, day=day, variable=variable
            ) from exc
        # Messages and lineage name the input (an S3 URI), not the local cache copy.
        sources.append(NamedSource(name=f, path=local))
    return load_day(sources, day, [variable])


def _error_text(exc: Exception, day: date, variable: str) -> str:
    if isinstance(exc, InputError):
        return str(exc)
    return f"day {day}, variable {variable}: {type(exc).__name__}: {exc}"


def process_day(
    task: DayTask, config: JobConfig, table_locations: dict[str, str]
) -> list[VariableOutcome]:
    """Everything for one day, on an executor; one outcome per variable, never raises
    for bad input (the outcome says failed and why)."""
    storage.use_endpoint(config.aws_endpoint_url)
    worker = f"{os.uname().nodename}:{os.getpid()}"
    loaded: dict[str, xr.Dataset] = {}
    errors: dict[str, str] = {}
    task_start = time.time()
    read_seconds: dict[str, float] = {}
    for v in config.variables:
        t_read = time.time()
        if v in task.problems:
            note = _unreadable_note(task) if task.unreadable else ""
            errors[v] = str(InputError(task.problems[v] + note, day=task.day, variable=v))
            continue
        try:
            loaded[v] = _load(task.files[v], task.day, v)
        except Exception as exc:  # noqa: BLE001 - any failure here is this day's, not the run's
            errors[v] = _error_text(exc, task.day, v)
        read_seconds[v] = time.time() - t_read

    probe = loaded.get("tp", loaded.get("t2m"))
    dataset = None
    if probe is not None:
        detection = detect_dataset(probe, config.dataset)
        dataset = detection.dataset
        logger.info("%s: %s (%s)", task.day, dataset, detection.reason)

    outcomes = []
    for v in config.variables:
        t0 = time.time()
        out = VariableOutcome(
            day=task.day, variable=v, status=FAILED, worker=worker, started=task_start
        )
        sources = (
            list(loaded[v].attrs["source_files"]) if v in loaded else list(task.files.get(v, ()))
        )
        field_: DailyField | None = None
        rows: pa.Table | None = None
        if v in errors:
            out.error = errors[v]
        else:
            try:
                field_ = daily_field(
                    loaded[v],
                    v,
                    task.day,
                    dataset or "era5",
                    min_samples=config.min_samples_per_day,
                )
                rows, geojson_bytes, png = contour_outputs(field_, config, sources)
                out.geojson = storage.write_bytes(config.geojson_path(v, task.day), geojson_bytes)
                if png is not None:
                    out.png = storage.write_bytes(config.png_path(v, task.day), png)
                out.status, out.samples, out.feature_count = OK, field_.samples, rows.num_rows
                if not field_.complete:
                    out.error = f"accepted with {field_.samples} of {field_.required} samples"
            except IncompleteDayError as exc:
                # Missing samples are a gap in the data, unless an input was unreadable:
                # then they are bad input, and the day fails naming the file.
                out.status = FAILED if task.unreadable else INCOMPLETE
                out.error = str(exc) + (_unreadable_note(task) if task.unreadable else "")
                out.samples, field_ = exc.samples, None
            except Exception as exc:  # noqa: BLE001 - any failure here is this day's, not the run's
                out.status, out.error = FAILED, _error_text(exc, task.day, v)
                field_, rows = None, None
        if out.status != OK:
            (logger.error if out.status == FAILED else logger.warning)("%s", out.error)
            # Outputs of an earlier run would contradict this run's summary row.
            storage.delete(config.geojson_path(v, task.day))
            storage.delete(config.png_path(v, task.day))
        if rows is not None and rows.num_rows:
            uri = catalog.data_file_uri(
                table_locations[CONTOUR_FEATURES.name], CONTOUR_FEATURES, task.day, v, config.run_id
            )
            out.feature_file = catalog.write_parquet_file(
                uri, rows, CONTOUR_FEATURES, filesystem=storage.arrow_filesystem(uri)
            )
        uri = catalog.data_file_uri(
            table_locations[DAILY_SUMMARY.name], DAILY_SUMMARY, task.day, v, config.run_id
        )
        out.summary_file = catalog.write_parquet_file(
            uri,
            summary_row(task.day, v, out, field_, sources, config.run_id),
            DAILY_SUMMARY,
            filesystem=storage.arrow_filesystem(uri),
        )
        out.finished = time.time()
        # Its own reading plus its own computing and writing: the variables' seconds add
        # up to the task's work (dataset detection aside).
        out.seconds = read_seconds[v] + out.finished - t0
        outcomes.append(out)
    return outcomes


# --------------------------------------------------------------------------- driver


@dataclass
class RunReport:
    """What a run did, for the log, the exit code and the benchmarks."""

    run_id: str
    days: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    day_status: dict[str, int] = field(default_factory=dict)
    features: int = 0
    failures: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    workers: int = 0
    max_concurrent_tasks: int = 0
    task_seconds: float = 0.0
    allow_failed_days: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.day_status.get(FAILED, 0) and not self.allow_failed_days else 0

    def text(self) -> str:
        total = self.seconds.get("total", 0.0)
        lines = [
            f"run {self.run_id}: {self.days} days in {total:.1f} s "
            f"({60 * self.days / total if total else 0:.1f} days/min)",
            "  days: "
            + ", ".join(f"{k} {self.day_status.get(k, 0)}" for k in (OK, INCOMPLETE, FAILED)),
            "  (day, variable): "
            + ", ".join(f"{k} {self.status_counts.get(k, 0)}" for k in (OK, INCOMPLETE, FAILED)),
            f"  features: {self.features}",
            f"  executors: {self.workers} worker processes, up to {self.max_concurrent_tasks} "
            f"days at once; per-day work {self.task_seconds:.1f} s of task time",
            "  phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()),
        ]
        lines += [f"  {k}: {v}" for k, v in self.outputs.items()]
        lines += [f"  FAILED {msg}" for msg in self.failures[:20]]
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more failures")
        return "\n".join(lines)


def _max_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    return peak


def _day_status(statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    if FAILED in statuses:
        return FAILED
    if INCOMPLETE in statuses:
        return INCOMPLETE
    return OK


def run_contour_job(spark, config: JobConfig, *, batch_days: int | None = None) -> RunReport:
    """Run the job on a SparkSession (local or Glue) and commit the tables.

    ``batch_days`` bounds how many days' outcomes the driver collects at once (default
    16 per core). Raises only for problems of the run as a whole (no input, catalog unreachable,
    commit failure); bad input for a day becomes that day's ``failed`` summary row.
    """
    t_start = time.time()
    report = RunReport(run_id=config.run_id, allow_failed_days=config.allow_failed_days)
    sc = spark.sparkContext
    storage.use_endpoint(config.aws_endpoint_url)

    cat = catalog.load_catalog(
        config.catalog_type,
        config.warehouse_path,
        glue_endpoint=config.aws_endpoint_url or None,
        s3_endpoint=config.aws_endpoint_url or None,
    )
    tables = {
        t.name: catalog.ensure_table(cat, config.database, t)
        for t in (CONTOUR_FEATURES, DAILY_SUMMARY)
    }
    locations = {name: t.location() for name, t in tables.items()}

    files = storage.list_files(config.input_path)
    if not files:
        raise FileNotFoundError(f"no .nc files under {config.input_path}")
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

    feature_files: list[str] = []
    summary_files: list[str] = []
    replace: list[tuple[date, str]] = []
    intervals: list[tuple[float, float]] = []
    workers: set[str] = set()
    counts: Counter[str] = Counter()
    day_counts: Counter[str] = Counter()
    t0 = time.time()
    committed = False
    try:
        # One partition per day, so Spark balances the days over the executors; batches
        # bound what the driver holds at once. (toLocalIterator would run one partition
        # at a time: no parallelism.) Contiguous days stay together, so a worker's
        # download cache serves the monthly files they share.
        batch = max(1, batch_days or 16 * sc.defaultParallelism)
        done = 0
        for b0 in range(0, len(tasks), batch):
            chunk = tasks[b0 : b0 + batch]
            results = (
                sc.parallelize(chunk, len(chunk))
                .map(lambda task: process_day(task, config, locations))
                .collect()
            )
            for outcomes in results:
                done += 1
                for out in outcomes:
                    counts[out.status] += 1
                    report.features += out.feature_count
                    report.task_seconds += out.seconds
                    replace.append((out.day, out.variable))
                    summary_files.append(out.summary_file)
                    if out.feature_file:
                        feature_files.append(out.feature_file)
                    if out.status == FAILED:
                        report.failures.append(out.error or f"{out.day} {out.variable}")
                    workers.add(out.worker)
                if outcomes:
                    intervals.append(
                        (min(o.started for o in outcomes), max(o.finished for o in outcomes))
                    )
                day_counts[_day_status(o.status for o in outcomes)] += 1
                logger.info(
                    "[%d/%d] %s %s",
                    done,
                    len(tasks),
                    outcomes[0].day if outcomes else "?",
                    ", ".join(
                        f"{o.variable} {o.status} ({o.feature_count} features)" for o in outcomes
                    ),
                )
        report.seconds["process"] = time.time() - t0

        t0 = time.time()
        props = {"run-id": config.run_id}
        features, summary = tables[CONTOUR_FEATURES.name], tables[DAILY_SUMMARY.name]
        before = features.current_snapshot()
        catalog.commit_replace(features, feature_files, replace, snapshot_properties=props)
        committed = True
        try:
            catalog.commit_replace(summary, summary_files, replace, snapshot_properties=props)
        except BaseException:
            # No multi-table transactions in Iceberg: undo the first commit instead.
            catalog.restore(features, before.snapshot_id if before else None, replace)
            raise
        report.seconds["commit"] = time.time() - t0
    except BaseException:
        if not committed:
            # Staged files no snapshot references: remove them, nothing half-written stays.
            for uri in feature_files + summary_files:
                try:
                    storage.delete(uri)
                except Exception:  # noqa: BLE001 - cleanup is best effort
                    logger.warning("could not remove staged file %s", uri)
        raise

    report.status_counts = dict(counts)
    report.day_status = dict(day_counts)
    report.workers = len(workers)
    report.max_concurrent_tasks = _max_overlap(intervals)
    report.outputs = {
        "GeoJSON": storage.join(config.output_path, "contours"),
        "PNG": storage.join(config.output_path, "plots"),
        "Iceberg": f"{config.catalog_type} catalog at {config.warehouse_path}, "
        f"tables {config.database}.{CONTOUR_FEATURES.name}, {config.database}.{DAILY_SUMMARY.name}",
    }
    report.seconds["total"] = time.time() - t_start
    return report


def report_dict(report: RunReport) -> dict[str, Any]:
    """JSON-friendly form of a report (benchmarks and tests)."""
    out = asdict(report)
    out["exit_code"] = report.exit_code
    return out

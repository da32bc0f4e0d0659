"""The contour job, sequenced: plan on the driver, work per day on the executors, commit.

1. The driver checks the run as a whole before it touches the catalog: the input lists
   at least one file, the output is writable, the tables open. Any of these failing is a
   :class:`~era5_contours.errors.RunError` (the job prints one line and exits 2).
2. The executors read the input files' time coordinates (:func:`inspect_file`), and the
   driver plans one :class:`DayTask` per day with the files each variable's rule needs
   (a day's tp needs D+1 00 UTC, which may be in the next month's file; t2m and tp may
   come from separate files).
3. The executors run :func:`process_day`: read the day's slices, compute the daily fields,
   contour them, stage the GeoJSON and PNG under the run's staging folder and write the
   feature rows as Iceberg data files (pyiceberg's writer: field ids, statistics,
   partition values), returning their metadata. Nothing about one (day, variable) ever raises: its
   :class:`VariableOutcome` says ``failed`` and why, with its ``daily_summary`` row. A day
   whose Spark task dies (a crashed or killed worker) is retried alone and, if it dies
   again, reported failed; the other days go on.
4. The driver commits both tables, replacing the rows of every processed (day, variable),
   and only then publishes the staged maps in place of the earlier ones (and removes those
   of days that are no longer ``ok``). A run that fails before its commit leaves earlier
   rows and maps exactly as they were.
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

from . import catalog, layout, remote, storage
from .config import JobConfig
from .contours import contour_bands, contour_lines
from .daily import DailyField, daily_field
from .datasets import detect_dataset
from .errors import IncompleteDayError, InputError, RunError
from .features import feature_rows
from .geojson import dumps, feature_collection
from .reading import file_time_range, load_day, source_for
from .schema import CONTOUR_FEATURES, DAILY_SUMMARY
from .variables import get, sample_window, window_overlaps

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.table.metadata import TableMetadata

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
        # An S3 input is read by range requests: its metadata and time coordinate only.
        info = file_time_range(source_for(path))
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
    #: contour_features as the executors write it: its metadata and file IO (both pickle).
    features_metadata: TableMetadata
    features_io: FileIO
    #: This run's staging folder for GeoJSON and PNG (published after the commit).
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
    #: The feature rows' Iceberg data files (written, not yet committed).
    data_files: list[DataFile] = field(default_factory=list)
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
            # S3 inputs: range reads of the pages the day needs, through this run's copy
            # shared by the machine's workers (each page fetched once per machine).
            sources = [source_for(f, ctx.attempt) for f in files]
            data = load_day(sources, task.day, [v], assume_units=ctx.config.assume_units)
            out[v] = _Inputs(data, None, files, time.time() - t0)
        except Exception as exc:  # noqa: BLE001 - a failure here is this day's, not the run's
            out[v] = _Inputs(None, _error_text(exc, task.day, v), files, time.time() - t0)
    return out


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
            out.data_files = catalog.write_data_files(
                ctx.features_metadata,
                ctx.features_io,
                rows,
                CONTOUR_FEATURES,
                write_uuid=write_uuid(ctx.attempt, task.day, variable),
            )
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


def write_uuid(attempt: str, day: date, variable: str) -> uuid.UUID:
    """The write UUID of a (day, variable) in one run.

    It names the task's data files, so a retried task overwrites the files of its dead
    attempt rather than leaving orphans.
    """
    return uuid.uuid5(uuid.NAMESPACE_URL, f"era5-contours/{attempt}/{day}/{variable}")


class _AlreadyFailed(Exception):
    """The inputs of this (day, variable) failed already; carries their error text."""


def _discard_staged(out: VariableOutcome) -> None:
    for attr in ("geojson", "png"):
        path = getattr(out, attr)
        if path:
            _discard_staged_file(path)
            setattr(out, attr, None)
    for path in catalog.data_file_paths(out.data_files):
        _discard_staged_file(path)
    out.data_files = []
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
    _intervals: list[tuple[float, float]] = field(default_factory=list, repr=False)
    _workers: set[str] = field(default_factory=set, repr=False)

    @property
    def exit_code(self) -> int:
        """1 when a day failed (unless failed days are allowed), else 0."""
        return 1 if self.day_status.get(FAILED, 0) and not self.allow_failed_days else 0

    def add_day(self, outcomes: Sequence[VariableOutcome]) -> None:
        """Count one day's outcomes in."""
        for out in outcomes:
            self.status_counts[out.status] = self.status_counts.get(out.status, 0) + 1
            self.features += out.feature_count
            self.task_seconds += out.seconds
            if out.status == FAILED:
                self.failures.append(out.error or f"{out.day} {out.variable}")
            if out.worker:
                self._workers.add(out.worker)
        timed = [o for o in outcomes if o.worker]
        if timed:
            self._intervals.append((min(o.started for o in timed), max(o.finished for o in timed)))
        status = _day_status(o.status for o in outcomes)
        self.day_status[status] = self.day_status.get(status, 0) + 1
        self.workers = len(self._workers)
        self.max_concurrent_tasks = _max_overlap(self._intervals)

    def note_kept(self, outcomes: Sequence[VariableOutcome]) -> None:
        """Say, next to each failure, that an earlier ok result was kept."""
        kept = {o.error: o.kept_run_id for o in outcomes if o.kept_run_id and o.status == FAILED}
        self.failures = [
            f"{msg} (the ok result of run {kept[msg]} is kept)" if msg in kept else msg
            for msg in self.failures
        ]

    def text(self) -> str:
        """The run summary, as printed at the end of a run."""
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


def _write_summaries(table, records: Sequence[dict[str, Any]], attempt: str) -> list[DataFile]:
    """Write the run's daily_summary rows as data files of the table.

    One file per partition of the table (pyiceberg splits by its spec) and run of
    consecutive days: a file's day range must lie within what the commit replaces, and
    the days whose earlier result is kept are not replaced.
    """
    files: list[DataFile] = []
    for n, run in enumerate(_consecutive_days(records)):
        files += catalog.write_data_files(
            table.metadata,
            table.io,
            summary_table(run),
            DAILY_SUMMARY,
            write_uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"era5-contours/{attempt}/summary/{n}"),
        )
    return files


def _consecutive_days(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows of one variable split where a day is missing (one whose earlier result is kept)."""
    runs: list[list[dict[str, Any]]] = []
    by_variable: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_variable.setdefault(row["variable"], []).append(row)
    for variable_rows in by_variable.values():
        variable_rows.sort(key=lambda r: r["day"])
        for row in variable_rows:
            if (
                runs
                and runs[-1][-1]["variable"] == row["variable"]
                and (row["day"] - runs[-1][-1]["day"]).days == 1
            ):
                runs[-1].append(row)
            else:
                runs.append([row])
    return runs


def _publish(config: JobConfig, outcomes: Sequence[VariableOutcome]) -> int:
    """Committed: staged maps replace the published ones; days not ok lose theirs."""
    moves: list[tuple[str, str]] = []
    deletes: list[str] = []
    for out in outcomes:
        final = {
            "geojson": config.geojson_path(out.variable, out.day),
            "png": config.png_path(out.variable, out.day),
        }
        for attr, target in final.items():
            staged = getattr(out, attr)
            if staged:
                moves.append((staged, target))
            else:
                # No new map: an earlier one would contradict the committed rows.
                deletes.append(target)

    def move(pair: tuple[str, str]) -> None:
        storage.move(*pair)

    # S3 copies are round trips: a few threads keep a long run's publishing short.
    with ThreadPoolExecutor(max_workers=8 if storage.is_s3(config.output_path) else 1) as pool:
        list(pool.map(move, moves))
        list(pool.map(storage.delete, deletes))
    return len(moves)


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
        How many days' outcomes the driver collects at once (default 16 per core).
    day_processor
        What runs per day on the executors (default :func:`process_day`).

    Raises
    ------
    RunError
        Only for problems of the run as a whole (no input, unwritable output, catalog
        unreachable, commit failure); bad input for a day becomes that day's ``failed``
        summary row. Before raising, the run removes what it staged: earlier rows and maps
        stay as they were.
    """
    t_start = time.time()
    processor = day_processor or process_day
    report = RunReport(run_id=config.run_id, allow_failed_days=config.allow_failed_days)
    sc = spark.sparkContext
    storage.use_endpoint(config.aws_endpoint_url)

    files = _list_inputs(config)
    attempt = f"{config.run_id}-{uuid.uuid4().hex[:8]}"
    staging = _prepare_staging(config, attempt)
    staged: list[DataFile] = []  # table data files written but not yet committed
    try:
        tables = _open_tables(config)
        ctx = RunContext(
            config=config,
            features_metadata=tables[CONTOUR_FEATURES.name].metadata,
            features_io=tables[CONTOUR_FEATURES.name].io,
            staging=staging,
            attempt=attempt,
        )

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
        # One partition per day, so Spark balances the days over the executors; batches
        # bound what the driver holds at once. (toLocalIterator would run one partition
        # at a time: no parallelism.) Each machine keeps the pages of S3 inputs its
        # workers fetched (remote.SharedCopy), so days that share a monthly file share
        # its bytes.
        batch = max(1, batch_days or 16 * sc.defaultParallelism)
        done = 0
        for b0 in range(0, len(tasks), batch):
            for day_outcomes in _run_days(sc, tasks[b0 : b0 + batch], ctx, processor):
                done += 1
                report.add_day(day_outcomes)
                for out in day_outcomes:
                    outcomes.append(out)
                    staged += out.data_files
                logger.info(
                    "[%d/%d] %s %s",
                    done,
                    len(tasks),
                    day_outcomes[0].day if day_outcomes else "?",
                    ", ".join(
                        f"{o.variable} {o.status} ({o.feature_count} features)"
                        for o in day_outcomes
                    ),
                )
        report.seconds["process"] = time.time() - t0
        _drop_read_caches(sc, config, attempt)

        t0 = time.time()
        features, summary = tables[CONTOUR_FEATURES.name], tables[DAILY_SUMMARY.name]
        _keep_earlier_ok_results(summary, outcomes)
        committing = [o for o in outcomes if o.kept_run_id is None]
        report.note_kept(outcomes)
        replace = [(o.day, o.variable) for o in committing]
        feature_files = list(staged)
        summary_files = _write_summaries(summary, [o.summary for o in committing], attempt)
        staged += summary_files
        _commit(features, summary, feature_files, summary_files, replace, config.run_id, attempt)
        staged = []  # referenced by the tables now
        report.seconds["commit"] = time.time() - t0
    except BaseException:
        _drop_read_caches(sc, config, attempt)
        _discard_run(staged, staging)
        raise

    t0 = time.time()
    try:
        published = _publish(config, committing)
        storage.delete_prefix(staging)
    except Exception as exc:
        raise RunError(
            f"the tables are committed, but publishing the maps failed ({_first_line(exc)}); "
            f"the maps of this run are still staged under {staging}"
        ) from exc
    report.seconds["publish"] = time.time() - t0
    logger.info("published %d maps", published)
    report.outputs = {
        "GeoJSON": storage.join(config.output_path, layout.CONTOURS),
        "PNG": storage.join(config.output_path, layout.PLOTS),
        "Iceberg": f"{config.catalog_type} catalog at {config.warehouse_path}, "
        f"tables {config.database}.{CONTOUR_FEATURES.name}, {config.database}.{DAILY_SUMMARY.name}",
    }
    report.seconds["total"] = time.time() - t_start
    return report


def _drop_read_caches(sc, config: JobConfig, attempt: str) -> None:
    """The days are done: remove the pages of S3 inputs the run kept on each machine."""
    if storage.is_s3(config.input_path):
        remote.drop_run_folders(sc, attempt)


def _keep_earlier_ok_results(summary, outcomes: Sequence[VariableOutcome]) -> None:
    """A (day, variable) that is not ok now but was ok in an earlier run keeps that result.

    A rerun whose input has become unreadable (or shorter) must not destroy a good
    result: its rows and maps stay, and the failure is reported by this run only.
    """
    not_ok = [(o.day, o.variable) for o in outcomes if o.status != OK]
    if not not_ok:
        return
    earlier = catalog.rows_with_status(summary, not_ok, OK)
    for out in outcomes:
        run_id = earlier.get((out.day, out.variable))
        if out.status != OK and run_id is not None:
            out.kept_run_id = run_id
            logger.warning(
                "%s %s is %s in this run: the ok result of run %s is kept",
                out.day,
                out.variable,
                out.status,
                run_id,
            )


def _commit(
    features, summary, feature_files, summary_files, replace, run_id: str, attempt: str
) -> None:
    """Both tables, features first; the first is restored if the second fails."""
    # The attempt names the run's staging folder: a snapshot that carries it says that
    # the run committed (what recovering an interrupted publish needs to know).
    props = {"run-id": run_id, "run-attempt": attempt}
    before = features.current_snapshot()
    try:
        catalog.commit_replace(features, feature_files, replace, snapshot_properties=props)
    except Exception as exc:
        raise RunError(
            f"committing {'.'.join(features.name())} failed, nothing was committed: "
            f"{_first_line(exc)}"
        ) from exc
    try:
        catalog.commit_replace(summary, summary_files, replace, snapshot_properties=props)
    except Exception as exc:
        # No multi-table transactions in Iceberg: undo the first commit instead.
        catalog.restore(features, before.snapshot_id if before else None, replace)
        raise RunError(
            f"committing {'.'.join(summary.name())} failed ({_first_line(exc)}); "
            f"{'.'.join(features.name())} was restored: nothing of this run is committed"
        ) from exc


def _discard_run(staged_files: Sequence[DataFile], staging: str) -> None:
    """Remove what a run that does not commit has staged (best effort)."""
    for path in catalog.data_file_paths(staged_files):
        _discard_staged_file(path)
    try:
        storage.delete_prefix(staging)
    except Exception:  # noqa: BLE001
        logger.warning("could not remove the staging folder %s", staging)


def report_dict(report: RunReport) -> dict[str, Any]:
    """JSON-friendly form of a report (benchmarks and tests)."""
    out = asdict(report)
    out.pop("_intervals", None)
    out.pop("_workers", None)
    out["exit_code"] = report.exit_code
    return out

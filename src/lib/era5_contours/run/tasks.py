"""The work of one day, on an executor: read, daily fields, contours, staged outputs.

:func:`process_day` streams the day's samples of every variable into the daily rules
(:func:`read_inputs`: a couple of hours in memory at a time, never the day's 24 or 25),
decides ERA5 or ERA5-Land from what the samples showed, and runs :func:`process_variable`
per variable: daily field, contours, GeoJSON for browsers, PNG and feature rows, all
staged under the run's staging folder. It never raises for anything about one (day,
variable): the :class:`VariableOutcome` says ``failed`` and why, with its
``daily_summary`` row. The rows go into the tables later,
one (variable, month) at a time (:mod:`~era5_contours.tables.months`).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import xarray as xr
from era5_common import storage
from era5_common.errors import IncompleteDayError, InputError

from era5_contours.inputs.reading import source_for
from era5_contours.outputs import layout
from era5_contours.outputs.features import feature_rows
from era5_contours.outputs.geojson import web_geojson
from era5_contours.science.contours import contour_field
from era5_contours.science.daily import DailyAccumulator, DailyField, read_daily
from era5_contours.tables.months import write_rows
from era5_contours.variables import get

from .config import JobConfig
from .planning import DayTask, unreadable_note
from .report import FAILED, INCOMPLETE, OK
from .spark import steady_worker

logger = logging.getLogger(__name__)


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
    # The C library's cos, one latitude at a time, not NumPy's: NumPy's vectorised cos
    # differs between releases in the last bit (1.23, Glue 4.0's, on 30 of France's 49
    # latitudes), and every Glue runtime must write the same daily_summary rows.
    radians = np.deg2rad(np.asarray(data["latitude"].values, dtype=float)).tolist()
    weights = np.array([math.cos(r) for r in radians])[:, None] * valid
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


def contour_outputs(
    field_: DailyField, config: JobConfig, source_files: Sequence[str]
) -> tuple[pa.Table, bytes, bytes | None]:
    """Feature rows, GeoJSON bytes and PNG bytes of one daily field (no IO).

    Bands and isolines come from one contourpy generator at ``--precision``; the feature
    rows keep them so, and the GeoJSON gets them simplified as a coverage and rounded
    (``--geojson_precision``, ``--geojson_simplify_tolerance``; from the grid spacing by
    default, :func:`~era5_contours.outputs.geojson.web_settings`).
    """
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
    bands, lines = contour_field(
        lon,
        lat,
        values,
        levels,
        lines=config.lines,
        precision=config.precision,
        simplify_tolerance=config.simplify_tolerance,
    )
    common: dict[str, Any] = {
        "variable": field_.variable,
        "units": field_.units,
        "day": field_.day,
        "dataset": field_.dataset,
    }
    geojson = web_geojson(
        bands,
        lines,
        latitude=lat,
        longitude=lon,
        precision=config.geojson_precision,
        tolerance=config.geojson_simplify_tolerance,
        levels=levels,
        cmap=scheme.cmap,
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
        from era5_contours.outputs.plots import (
            render_map_png,  # matplotlib only where plots are wanted
        )

        png = render_map_png(data, levels, cmap=scheme.cmap)
    return rows, geojson, png


def _error_text(exc: BaseException, day: date, variable: str) -> str:
    if isinstance(exc, InputError):
        # A file's own problem (unreadable, bad layout) is told without the day and
        # variable it was read for: the row's message names all three.
        return str(
            InputError(
                exc.message,
                file=exc.file,
                day=exc.day or day,
                variable=exc.variable or variable,
            )
        )
    return f"day {day}, variable {variable}: {type(exc).__name__}: {exc}"


@dataclass
class _Inputs:
    """One variable's day streamed into its daily rule, or why it could not be."""

    #: The rule's accumulators (a field or two), released once the field is made.
    acc: DailyAccumulator | None
    error: str | None
    files: tuple[str, ...]
    seconds: float


def read_inputs(task: DayTask, ctx: RunContext) -> dict[str, _Inputs]:
    """Each variable's samples of the day, streamed into its daily rule.

    Never raises: failures become errors. With ``--dataset auto`` the accumulators keep
    what both products' rules and the product detection need.
    """
    out: dict[str, _Inputs] = {}
    for v in ctx.config.variables:
        t0 = time.time()
        files = task.files.get(v, ())
        if v in task.problems:
            note = unreadable_note(task) if task.unreadable else ""
            error = str(InputError(task.problems[v] + note, day=task.day, variable=v))
            out[v] = _Inputs(None, error, files, time.time() - t0)
            continue
        try:
            # S3 inputs: range reads of the pages the day needs, through this run's copy
            # shared by the machine's workers (each page fetched once per machine).
            sources = [source_for(f, ctx.attempt) for f in files]
            acc = read_daily(
                sources,
                task.day,
                v,
                dataset=ctx.config.dataset,
                assume_units=ctx.config.assume_units,
            )
            out[v] = _Inputs(acc, None, files, time.time() - t0)
        except Exception as exc:  # noqa: BLE001 - a failure here is this day's, not the run's
            out[v] = _Inputs(None, _error_text(exc, task.day, v), files, time.time() - t0)
    return out


def _dataset_of_day(task: DayTask, inputs: dict[str, _Inputs], ctx: RunContext) -> str:
    """ERA5 or ERA5-Land, asked of the day's variables by their probe rank.

    tp's accumulation decides best; t2m has the sea NaN and the grid. Each accumulator
    gathered its evidence while its samples streamed by.
    """
    for v in sorted(inputs, key=lambda name: get(name).probe_rank):
        acc = inputs[v].acc
        if acc is None:
            continue
        detection = acc.detect(ctx.config.dataset)
        logger.info("%s: %s from %s (%s)", task.day, detection.dataset, v, detection.reason)
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
        acc = inputs.acc
        if acc is None:
            raise _AlreadyFailed(inputs.error or "no input")
        sources = acc.source_files
        # The accumulators go as soon as the field is made: contouring needs the memory.
        inputs.acc = None
        field_ = acc.field(dataset, min_samples=config.min_samples_per_day)
        del acc
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
        out.error = str(exc) + (unreadable_note(task) if task.unreadable else "")
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
    steady_worker()
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


DayProcessor = Callable[[DayTask, RunContext], list[VariableOutcome]]

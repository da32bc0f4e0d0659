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
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import xarray as xr

from era5_common import storage
from era5_common.errors import IncompleteDayError, InputError
from era5_common.variables import TOTAL, variable
from era5_contours.inputs.datasets import SAMPLE_ATTR
from era5_contours.inputs.netcdf import source_for
from era5_contours.outputs import layout
from era5_contours.outputs.features import feature_rows
from era5_contours.outputs.geojson import web_geojson
from era5_contours.science.contours import contour_field
from era5_contours.science.daily import DailyField, DayRead, read_day
from era5_contours.tables.months import MonthContext, MonthResult, MonthTask, merge_month
from era5_contours.tables.rows import write_rows
from era5_contours.tables.schema import FAILED, INCOMPLETE, OK

from .config import JobConfig
from .outcome import VariableOutcome
from .planning import DayTask, unreadable_note
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
        extra_properties={
            "complete": field_.complete,
            "samples": field_.samples,
            # Only on the synthetic sample's maps: real data keep their properties.
            **({"synthetic": True} if data.attrs.get(SAMPLE_ATTR) else {}),
            **({"area": config.area.text()} if config.area is not None else {}),
        },
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

        # --lines false leaves isolines out of the maps too (and their labels' time).
        png = render_map_png(data, levels, cmap=scheme.cmap, isolines=config.lines)
    return rows, geojson, png


def _error_text(exc: BaseException, day: date, name: str) -> str:
    if isinstance(exc, InputError):
        # A file's own problem (unreadable, bad layout) is told without the day and
        # variable it was read for: the row's message names all three.
        return str(
            InputError(
                exc.message,
                file=exc.file,
                day=exc.day or day,
                variable=exc.variable or name,
            )
        )
    return f"day {day}, variable {name}: {type(exc).__name__}: {exc}"


def read_inputs(task: DayTask, ctx: RunContext) -> dict[str, DayRead]:
    """Each variable's samples of the day, streamed into its daily rule.

    Each quantity is read once, whatever variables use it. Never raises: failures become
    errors. With ``--dataset auto`` the accumulators keep what both products' rules and
    the product detection need.
    """
    out: dict[str, DayRead] = {}
    wanted = [v for v in ctx.config.variables if v not in task.problems]
    for v in ctx.config.variables:
        if v in task.problems:
            note = unreadable_note(task) if task.unreadable else ""
            error = InputError(task.problems[v] + note, day=task.day, variable=v)
            files = tuple(f for q in variable(v).quantities for f in task.files.get(q, ()))
            out[v] = DayRead(None, error, files, None)
    # S3 inputs: range reads of the pages the day needs, through this run's copy shared
    # by the machine's workers (each page fetched once per machine).
    sources = {q: [source_for(f, ctx.attempt) for f in fs] for q, fs in task.files.items()}
    try:
        read = read_day(
            sources,
            task.day,
            wanted,
            recipes=task.recipes,
            dataset=ctx.config.dataset,
            assume_units=ctx.config.assume_units,
            area=ctx.config.area,
        )
    except Exception as exc:  # noqa: BLE001 - a failure here is this day's, not the run's
        error = InputError(f"{type(exc).__name__}: {exc}", day=task.day)
        read = {v: DayRead(None, error, (), task.recipes.get(v)) for v in wanted}
    out.update(read)
    return out


def _dataset_of_day(task: DayTask, inputs: dict[str, DayRead], ctx: RunContext) -> str:
    """ERA5 or ERA5-Land, asked of the day's variables.

    A total of an accumulation decides best (its growth through the day); the others
    have the sea NaN and the grid. Each accumulator gathered its evidence while its
    samples streamed by.
    """
    for v in sorted(inputs, key=lambda name: variable(name).statistic != TOTAL):
        acc = inputs[v].acc
        if acc is None:
            continue
        detection = acc.detect(ctx.config.dataset)
        logger.info("%s: %s from %s (%s)", task.day, detection.dataset, v, detection.reason)
        return detection.dataset
    return ctx.config.dataset if ctx.config.dataset != "auto" else "era5"


def process_variable(
    task: DayTask, name: str, inputs: DayRead, dataset: str, ctx: RunContext
) -> VariableOutcome:
    """Daily field, contours, staged maps and feature data files of one (day, variable).

    Never raises for anything about this (day, variable): the outcome says what failed,
    and what it had staged is removed.
    """
    config = ctx.config
    t0 = time.time()
    out = VariableOutcome(day=task.day, variable=name, status=FAILED)
    sources: Sequence[str] = inputs.files
    field_: DailyField | None = None
    try:
        acc = inputs.acc
        if acc is None:
            raise _AlreadyFailed(
                _error_text(inputs.error, task.day, name) if inputs.error else "no input"
            )
        sources = acc.source_files
        # The accumulators go as soon as the field is made: contouring needs the memory.
        inputs.acc = None
        field_ = acc.field(dataset, min_samples=config.min_samples_per_day)
        del acc
        rows, geojson_bytes, png = contour_outputs(field_, config, sources)
        out.geojson = storage.write_bytes(
            layout.geojson_path(ctx.staging, name, task.day), geojson_bytes
        )
        if png is not None:
            out.png = storage.write_bytes(layout.png_path(ctx.staging, name, task.day), png)
        if rows.num_rows:
            out.rows = write_rows(layout.rows_path(ctx.staging, name, task.day), rows)
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
        out.status, out.error, field_ = FAILED, _error_text(exc, task.day, name), None
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
    ctx.config.use_storage()
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
        files = [f for q in variable(v).quantities for f in task.files.get(q, ())]
        out.summary = summary_record(out, None, files, ctx.config.run_id)
        outcomes.append(out)
    return outcomes


DayProcessor = Callable[[DayTask, RunContext], list[VariableOutcome]]


def rewrite_month(task: MonthTask, ctx: MonthContext) -> MonthResult:
    """The Spark task of one (variable, month) partition's rewrite (on an executor)."""
    steady_worker()
    return merge_month(task, ctx)

"""A variable's samples in a day's window, streamed a few hours at a time (or loaded).

:class:`DaySamples` reads, from the files a day needs (:mod:`~era5_contours.inputs.netcdf`),
the hourly samples of one variable in one window, converted to the variable's canonical
units, in time order, each hour once: identical copies in two files count once,
conflicting copies or files on other grids fail naming both files, hours NaN everywhere
are missing samples. Memory holds ``hours_per_read`` fields, never the day's 24 or 25.
:func:`load_day` gathers the same samples into an in-memory Dataset (notebooks, tests,
benchmarks): a thin wrapper over the stream, so both paths read and refuse alike.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from era5_common.area import Area
from era5_common.errors import InputError

from .grids import Selection, reorder, select
from .netcdf import (
    FORECAST_HOUR,
    FORECAST_INIT,
    NamedSource,
    as_named,
    axes_text,
    cache_one_time_slab,
    normalise,
    open_handle,
    open_raw,
    source_names,
    valid_times,
)
from .units import CANONICAL, canonical_conversion
from .windows import Window, in_window, sample_window

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

#: Two copies of one sample agree when they match to this relative tolerance: exactly,
#: but for the float rounding of decoding another encoding (packed int16, float32 degC).
DUPLICATE_RTOL = 1e-6


@dataclass(frozen=True)
class Sample:
    """One hourly field of one variable: 2-D ``(latitude, longitude)`` in canonical units."""

    time: np.datetime64
    values: np.ndarray
    source: str


@dataclass
class _StreamPart:
    """One file's samples of the window, open, with what reading them needs."""

    source: str
    nc: object  # netCDF4.Dataset or h5netcdf.File, closed by DaySamples.close
    data: xr.DataArray  # normalised but not sorted: sorting happens in numpy per read
    index: np.ndarray  # positions in the file's (flattened) time axis, in window
    times: np.ndarray  # their times (datetime64[ns])
    #: Forecast hours per run, where the file holds forecasts (NSF NCAR's layout).
    hours_per_run: int | None
    grid: Selection
    scale: float
    offset: float
    #: The file's global attributes.
    file_attrs: dict[str, Any]

    @property
    def lat(self) -> np.ndarray:
        """The grid read, latitude ascending."""
        return self.grid.latitude

    @property
    def lon(self) -> np.ndarray:
        """The grid read, longitude ascending (in the area's frame, with an area)."""
        return self.grid.longitude


#: Hours read per netCDF call: the reader holds this many fields (times the copies of a
#: duplicated hour), not the day's 24 or 25.
HOURS_PER_READ = 2


class DaySamples:
    """One variable's samples in one window, read a few hours at a time.

    The streaming counterpart of :func:`load_windows` for one variable: the same files,
    window, unit conversion, duplicate and grid checks and error messages, but iterating
    yields one :class:`Sample` at a time in time order, reading ``hours_per_read`` hours per
    netCDF call, so that memory holds a couple of fields instead of the whole day. Opening
    reads only coordinates and attributes.

    Parameters
    ----------
    sources
        Files or bytes, in the order duplicates are resolved (the first copy of an hour
        is kept when the copies agree).
    variable
        A quantity of the registry (``t2m``, ``tp``, ``u10``...).
    window
        ``(start, end, closed)`` as :func:`~era5_contours.inputs.windows.sample_window`.
    day
        The day the samples serve, for error messages.
    assume_units
        ``{variable: units}`` for files whose ``units`` attribute is missing or unknown.
    hours_per_read
        Hours read per netCDF call.

    Raises
    ------
    InputError
        A file is unreadable or no file holds the variable in the window.
    """

    def __init__(
        self,
        sources: Sequence[NamedSource | str | os.PathLike[str] | bytes],
        variable: str,
        window: Window,
        *,
        day: date | None = None,
        assume_units: Mapping[str, str] | None = None,
        hours_per_read: int = HOURS_PER_READ,
        area: Area | None = None,
    ) -> None:
        if hours_per_read < 1:
            raise ValueError(f"hours_per_read must be at least 1, got {hours_per_read}")
        self.variable = variable
        self.window = window
        self.day = day
        self.hours_per_read = hours_per_read
        self.area = area
        self._assume = (assume_units or {}).get(variable)
        self._parts: list[_StreamPart] = []
        #: Bytes of values decoded so far (what netCDF handed over, before conversion).
        self.decoded_bytes = 0
        #: Hourly fields decoded so far (each copy of an hour counts).
        self.decoded_samples = 0
        self.source_names = source_names(sources)
        try:
            for source in sources:
                part = self._open_part(as_named(source))
                if part is not None:
                    self._parts.append(part)
        except BaseException:
            self.close()
            raise
        if not self._parts:
            start, end, _ = window
            raise InputError(
                f"no file holds this variable between {start:%Y-%m-%d %H:%M} and "
                f"{end:%Y-%m-%d %H:%M} UTC (files: {', '.join(self.source_names) or 'none'})",
                day=day,
                variable=variable,
            )
        first = self._parts[0]
        #: The grid of the first file in the window (every sample read is on it).
        self.latitude: np.ndarray = first.lat
        self.longitude: np.ndarray = first.lon
        #: The variable's attributes in the first file (product names for detection).
        self.attrs: dict[str, Any] = dict(first.data.attrs)
        #: The first file's global attributes (product names for detection, too).
        self.file_attrs: dict[str, Any] = first.file_attrs
        #: Files that hold any time of the window, as :func:`load_windows` names them.
        self.source_files: list[str] = sorted({p.source for p in self._parts})

    def _open_part(self, src: NamedSource) -> _StreamPart | None:
        try:
            nc = open_handle(src)
        except Exception as exc:  # netCDF4 raises OSError, ValueError, KeyError...
            raise InputError(
                f"cannot read NetCDF ({type(exc).__name__}: {exc})", file=src.name
            ) from exc
        try:
            raw = open_raw(src, nc)
            ds = normalise(raw, src.name, sort=False)
        except InputError:
            nc.close()
            raise
        except Exception as exc:
            nc.close()
            raise InputError(f"unexpected layout ({exc})", file=src.name) from exc
        v = self.variable
        times = valid_times(ds)
        index = (
            np.flatnonzero(in_window(times, *self.window))
            if v in ds.data_vars
            else np.empty(0, dtype=int)
        )
        if index.size == 0:
            nc.close()
            return None
        data = ds[v]
        try:
            scale, offset, _ = canonical_conversion(
                data.attrs, v, file=src.name, day=self.day, assume=self._assume
            )
            grid = select(data["latitude"].values, data["longitude"].values, self.area)
        except ValueError as exc:
            nc.close()
            raise InputError(str(exc), file=src.name, day=self.day, variable=v) from exc
        except BaseException:
            nc.close()
            raise
        cache_one_time_slab(nc, v)
        forecast = FORECAST_HOUR in data.dims
        return _StreamPart(
            source=src.name,
            nc=nc,
            data=data.assign_attrs(source_file=src.name),
            index=index,
            times=times[index].astype("datetime64[ns]"),
            hours_per_run=data.sizes[FORECAST_HOUR] if forecast else None,
            grid=grid,
            scale=scale,
            offset=offset,
            file_attrs=dict(ds.attrs),
        )

    def close(self) -> None:
        """Close every file (iteration is over or abandoned)."""
        for part in self._parts:
            # A handle already closed by netCDF4 raises; closing is all that matters here.
            with contextlib.suppress(Exception):
                part.nc.close()  # type: ignore[attr-defined]
        self._parts = []

    def __enter__(self) -> DaySamples:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def times(self) -> np.ndarray:
        """Every distinct time of the window the files hold (some may be all NaN)."""
        return np.unique(np.concatenate([p.times for p in self._parts]))

    def _read(self, part: _StreamPart, positions: np.ndarray) -> list[np.ndarray]:
        """Samples at ``positions`` of ``part.index``: one read per contiguous run.

        Only the rows and columns of the part's grid are read (hyperslabs: HDF5 reads
        the chunks that hold them); a forecast file's run is cut where a forecast ends.
        """
        out: list[np.ndarray] = []
        file_index = part.index[positions]
        runs = np.split(file_index, np.flatnonzero(np.diff(file_index) != 1) + 1)
        for run in runs:
            try:
                blocks = [self._block(part, piece) for piece in _pieces(run, part.hours_per_run)]
            except InputError:
                raise
            except Exception as exc:  # truncated files fail here, at the first real read
                raise InputError(
                    f"cannot read data ({type(exc).__name__}: {exc})",
                    file=part.source,
                    day=self.day,
                    variable=self.variable,
                ) from exc
            block = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
            self.decoded_bytes += block.nbytes
            self.decoded_samples += block.shape[0]
            block = reorder(reorder(block, part.grid.lat_order, 1), part.grid.lon_order, 2)
            if not np.issubdtype(block.dtype, np.floating):
                block = block.astype(np.float64)
            if part.scale != 1.0 or part.offset != 0.0:
                block = block * block.dtype.type(part.scale)  # a new array: never the file's
                block += block.dtype.type(part.offset)
            out.extend(block)
        return out

    def _block(self, part: _StreamPart, piece: dict[str, Any]) -> np.ndarray:
        """The values of one time piece, over the part's rows and columns: (time, lat, lon)."""
        rows = part.grid.rows
        columns = [
            np.asarray(part.data.isel({**piece, "latitude": rows, "longitude": cols}).values)
            for cols in part.grid.columns
        ]
        return np.concatenate(columns, axis=2) if len(columns) > 1 else columns[0]

    def __iter__(self) -> Iterator[Sample]:
        """The samples in time order, each hour once, hours NaN everywhere left out."""
        return self.read()

    def read(self, only: np.ndarray | None = None) -> Iterator[Sample]:
        """The samples in time order, each hour once, hours NaN everywhere left out.

        Parameters
        ----------
        only
            The times to decode (``datetime64``); the window's other hours are left
            unread. ``None`` reads them all.

        Raises
        ------
        InputError
            Naming both files, when two files are on different grids or hold different
            values for the same hour; naming the file when it cannot be read.
        """
        # Every copy of every hour, in source order within an hour: the first copy with
        # data is the one kept, as load_windows keeps it.
        copies: dict[np.datetime64, list[tuple[int, int]]] = {}
        for p, part in enumerate(self._parts):
            for k, t in enumerate(part.times):
                copies.setdefault(t, []).append((p, k))
        grid_of: _StreamPart | None = None
        hours = sorted(copies)
        if only is not None:
            wanted_times = set(np.asarray(only, dtype="datetime64[ns]").tolist())
            hours = [t for t in hours if t.astype("datetime64[ns]").tolist() in wanted_times]
        step = self.hours_per_read
        for b in range(0, len(hours), step):
            batch = hours[b : b + step]
            wanted: dict[int, list[int]] = {}
            for t in batch:
                for p, k in copies[t]:
                    wanted.setdefault(p, []).append(k)
            read: dict[tuple[int, int], np.ndarray] = {}
            for p, ks in wanted.items():
                ks = sorted(ks)
                for k, values in zip(ks, self._read(self._parts[p], np.asarray(ks)), strict=True):
                    read[(p, k)] = values
            for t in batch:
                kept: tuple[_StreamPart, np.ndarray] | None = None
                for p, k in copies[t]:
                    values = read.pop((p, k))
                    # An hour NaN everywhere is a missing sample (the unpublished tail of
                    # ERA5T), not a value that could conflict with another copy.
                    if not np.isfinite(values).any():
                        continue
                    part = self._parts[p]
                    if grid_of is None:
                        grid_of = part
                    elif not (
                        np.array_equal(grid_of.lat, part.lat)
                        and np.array_equal(grid_of.lon, part.lon)
                    ):
                        raise InputError(
                            f"files on different grids: {grid_of.source} is "
                            f"{axes_text(grid_of.lat, grid_of.lon)}, {part.source} is "
                            f"{axes_text(part.lat, part.lon)}",
                            day=self.day,
                            variable=self.variable,
                        )
                    if kept is None:
                        kept = (part, values)
                        continue
                    self._check_copy(t, kept, part, values)
                if kept is not None:
                    yield Sample(t, kept[1], kept[0].source)
                    kept = None

    def _check_copy(
        self,
        t: np.datetime64,
        kept: tuple[_StreamPart, np.ndarray],
        part: _StreamPart,
        values: np.ndarray,
    ) -> None:
        first, ref = kept
        if first.source == part.source:
            raise InputError(
                f"time {np.datetime_as_string(t, unit='m')} appears twice in the file",
                file=part.source,
                day=self.day,
                variable=self.variable,
            )
        if not np.allclose(values, ref, rtol=DUPLICATE_RTOL, atol=0.0, equal_nan=True):
            diff = np.nanmax(np.abs(values.astype(float) - ref.astype(float)))
            raise InputError(
                f"conflicting samples at {np.datetime_as_string(t, unit='m')} UTC: "
                f"{first.source} and {part.source} hold different values "
                f"(largest difference {diff:g} {CANONICAL[self.variable]}); remove "
                "one of them",
                day=self.day,
                variable=self.variable,
            )


def _pieces(run: np.ndarray, hours_per_run: int | None) -> list[dict[str, Any]]:
    """``isel`` arguments of a run of consecutive positions, a piece per forecast run.

    Each piece reads ``(time, lat, lon)``: a slice of the time axis, or of one forecast's
    hours (its valid times are consecutive, and the next forecast's follow on).
    """
    first, last = int(run[0]), int(run[-1])
    if hours_per_run is None:
        return [{"time": slice(first, last + 1)}]
    pieces = []
    for forecast in range(first // hours_per_run, last // hours_per_run + 1):
        lo = max(first, forecast * hours_per_run) - forecast * hours_per_run
        hi = min(last, (forecast + 1) * hours_per_run - 1) - forecast * hours_per_run
        pieces.append({FORECAST_INIT: forecast, FORECAST_HOUR: slice(lo, hi + 1)})
    return pieces


def day_samples(
    sources: Sequence[NamedSource | str | os.PathLike[str] | bytes],
    day: date,
    variable: str,
    *,
    assume_units: Mapping[str, str] | None = None,
    hours_per_read: int = HOURS_PER_READ,
) -> DaySamples:
    """The samples the daily rule of ``variable`` needs for ``day``, streamed.

    The streaming counterpart of :func:`load_day` for one variable (its rule's window).
    """
    return DaySamples(
        sources,
        variable,
        sample_window(variable, day),
        day=day,
        assume_units=assume_units,
        hours_per_read=hours_per_read,
    )


def load_windows(
    sources: Sequence[NamedSource | str | os.PathLike[str] | bytes],
    windows: Mapping[str, Window],
    *,
    day: date | None = None,
    assume_units: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Each variable's samples in its own window, gathered into memory.

    The samples :class:`DaySamples` streams, stacked: the same files, unit conversion,
    duplicate and grid checks and errors. Variables are joined on their times and must
    share one grid.

    Parameters
    ----------
    windows
        ``{variable: (start, end, closed)}``, ``closed`` one of left, right, both.
    day
        The day the samples serve, for error messages.
    assume_units
        ``{variable: units}`` for files whose ``units`` attribute is missing or unknown.

    Raises
    ------
    InputError
        As :class:`DaySamples`; and when the variables are on different grids.
    """
    arrays: dict[str, xr.DataArray] = {}
    used: set[str] = set()
    for variable, window in windows.items():
        with DaySamples(sources, variable, window, day=day, assume_units=assume_units) as samples:
            got = list(samples)
            grid = (samples.latitude, samples.longitude)
            values = (
                np.stack([s.values for s in got])
                if got
                else np.empty((0, grid[0].size, grid[1].size), dtype=np.float32)
            )
            attrs = {**samples.attrs, "units": CANONICAL[variable]}
            used.update(samples.source_files)
        arrays[variable] = xr.DataArray(
            values,
            dims=("time", "latitude", "longitude"),
            coords={
                "time": np.array([s.time for s in got], dtype="datetime64[ns]"),
                "latitude": grid[0],
                "longitude": grid[1],
            },
            attrs=attrs,
            name=variable,
        )
    names = list(arrays)
    first = arrays[names[0]]
    for other in names[1:]:
        a = arrays[other]
        if not all(np.array_equal(first[d].values, a[d].values) for d in ("latitude", "longitude")):
            raise InputError(
                f"variables are on different grids: {names[0]} is "
                f"{axes_text(first['latitude'].values, first['longitude'].values)}, {other} is "
                f"{axes_text(a['latitude'].values, a['longitude'].values)}",
                day=day,
                variable=",".join(names),
            )
    merged: xr.Dataset = xr.merge(
        list(arrays.values()), join="outer", compat="override", combine_attrs="drop"
    )
    for variable, a in arrays.items():
        merged[variable].attrs = dict(a.attrs)
    merged.attrs["source_files"] = sorted(used)
    return merged


def load_window(
    sources: Sequence[NamedSource | str | os.PathLike[str] | bytes],
    start: datetime,
    end: datetime,
    variables: Sequence[str],
    *,
    day: date | None = None,
    closed: str = "both",
    assume_units: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """:func:`load_windows` with one window, ``start <= time <= end`` by default, for all."""
    return load_windows(
        sources,
        dict.fromkeys(variables, (start, end, closed)),
        day=day,
        assume_units=assume_units,
    )


def load_day(
    sources: Sequence[NamedSource | str | os.PathLike[str] | bytes],
    day: date,
    variables: Sequence[str],
    *,
    assume_units: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """The samples the daily rules of ``variables`` need for ``day``, in memory.

    Each quantity gets its window (:func:`~era5_contours.inputs.windows.sample_window`):
    an instant 00..23 UTC of D, an accumulation (D 00 UTC, D+1 00 UTC].
    """
    windows = {v: sample_window(v, day) for v in variables}
    return load_windows(sources, windows, day=day, assume_units=assume_units)

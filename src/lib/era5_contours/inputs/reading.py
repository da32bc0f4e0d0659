"""Read ERA5 / ERA5-Land NetCDF into one normalised layout.

Whatever the Climate Data Store delivered (legacy NetCDF3 with int16 packing and a
``time`` dimension, current NetCDF4 with ``valid_time``, ``lat/lon`` names, descending
latitude, 0..360 longitude, instant and accum streams in separate files), the result is a
Dataset with dimensions ``(time, latitude, longitude)``, latitude ascending, longitude
ascending in [-180, 180), coordinates rounded so that grids from different files join,
and only the variables this library knows (``t2m``, ``tp``).

Files are opened lazily: :func:`load_window` reads only the requested time slice, so a
month-long file is never loaded whole to process one day.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import xarray as xr
from era5_common.errors import InputError

from era5_contours.variables import ALIASES, in_window, sample_window

from .datasets import SAMPLE_ATTR
from .units import CANONICAL, canonical_conversion, to_canonical

if TYPE_CHECKING:
    import netCDF4

    from .remote import RangeFile

logger = logging.getLogger(__name__)

_TIME_NAMES = ("valid_time", "time")
_LAT_NAMES = ("latitude", "lat")
_LON_NAMES = ("longitude", "lon")
#: 1e-4 degrees (~11 m) absorbs float32 noise (13.100000381469727) and ERA5-Land's
#: non-exact 0.1 steps while keeping any real grid (>= 0.01 degrees) distinct.
COORD_DECIMALS = 4


@dataclass(frozen=True)
class NamedSource:
    """Bytes or a path, plus the name used in messages and lineage (e.g. the S3 URI)."""

    name: str
    data: bytes | None = None
    path: str | None = None
    #: An S3 URI read by HTTP range requests (:mod:`~era5_contours.inputs.remote`), never whole.
    s3: str | None = None
    #: The run whose machine-shared copy serves the reads of ``s3`` (a day's reads);
    #: None reads through memory only (planning).
    scope: str | None = None

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> NamedSource:
        """A file on disk, named by its path."""
        return cls(name=os.fspath(path), path=os.fspath(path))

    @classmethod
    def from_s3(cls, uri: str, scope: str | None = None) -> NamedSource:
        """An S3 object read by range requests, named by its URI.

        With ``scope`` (a run's id) the pages read are kept in that run's folder on this
        machine, shared with the run's other worker processes; without, in memory.
        """
        return cls(name=uri, s3=uri, scope=scope)

    @classmethod
    def from_bytes(cls, name: str, data: bytes | memoryview) -> NamedSource:
        """File contents in memory (an S3 object's body), named ``name``."""
        return cls(name=name, data=bytes(data))


def source_for(path: str, scope: str | None = None) -> NamedSource:
    """A local path as itself, an S3 URI for range reads (see :meth:`NamedSource.from_s3`)."""
    from era5_common.storage import is_s3

    return NamedSource.from_s3(path, scope) if is_s3(path) else NamedSource.from_path(path)


def _as_named(source: NamedSource | str | os.PathLike[str] | bytes) -> NamedSource:
    if isinstance(source, NamedSource):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return NamedSource.from_bytes("<bytes>", source)
    return NamedSource.from_path(source)


def _open_nc(src: NamedSource) -> Any:
    """The handle of a source: netCDF4 for a file or bytes, h5netcdf for an S3 object.

    Typed ``Any``: callers use the small API both libraries share (``variables``,
    ``dimensions``, ``close``), which no common base class declares.
    """
    import netCDF4

    if src.s3 is not None:
        return _open_s3(src)
    if src.path is not None:
        # The netCDF4 library reads NetCDF3 and NetCDF4 alike.
        return netCDF4.Dataset(src.path, mode="r")
    assert src.data is not None
    # netCDF4 opens NetCDF3 and NetCDF4/HDF5 buffers in place: no temp file, one engine
    # for both formats (h5netcdf would need h5py and reads NetCDF4 only).
    return netCDF4.Dataset("in-memory.nc", mode="r", memory=src.data)


def _open_s3(src: NamedSource) -> Any:
    """An S3 object opened for range reads: h5netcdf over a :class:`~era5_contours.inputs.remote.RangeFile`.

    h5py reads NetCDF4 (HDF5) from any file-like object, so only the pages HDF5 asks for
    are fetched; netCDF4-C cannot read from Python objects. NetCDF3 files, which h5py
    cannot read, are small and fetched whole (once per machine for a day's reads).
    """
    from . import remote

    assert src.s3 is not None
    obj = remote.head(src.s3)
    folder = remote.run_folder(src.scope) if src.scope else None
    fileobj = remote.day_file(obj, folder) if folder is not None else remote.planning_file(obj)
    try:
        classic = remote.is_classic(fileobj.read(8))
        if classic:
            fileobj.close()
            whole = remote.classic_copy(obj, folder)
            if isinstance(whole, bytes):
                return _open_nc(NamedSource(name=src.name, data=whole))
            return _open_nc(NamedSource(name=src.name, path=whole))
        fileobj.seek(0)
        return _h5_file_class()(fileobj, **_h5_chunk_cache(fileobj))
    except BaseException:
        fileobj.close()
        raise


@functools.cache
def _h5_file_class() -> type[Any]:
    import h5netcdf

    class RemoteH5File(h5netcdf.File):  # type: ignore[misc]  # h5netcdf is untyped: Any
        """h5netcdf over a file object it owns: closing it closes the object too."""

        def __init__(self, fileobj: RangeFile, **kwargs: Any) -> None:
            self._fileobj = fileobj
            # decode_vlen_strings as xarray's h5netcdf engine opens files.
            super().__init__(fileobj, "r", decode_vlen_strings=True, **kwargs)
            # h5netcdf opens a variable's HDF5 dataset anew at every read, and HDF5 drops
            # a dataset's chunk cache when its last handle closes: one handle per known
            # variable, held while the file is open, keeps the cache across reads.
            self._held = [self._h5file[name] for name in self._h5file if name in ALIASES]

        def close(self) -> None:
            self._held = []
            try:
                super().close()
            finally:
                self._fileobj.close()

    return RemoteH5File


def _h5_chunk_cache(fileobj: RangeFile) -> dict[str, int]:
    """h5py chunk cache options holding one time step's chunks of the largest variable.

    The counterpart of :func:`_cache_one_time_slab` (which h5py can only set when a file
    opens): reading a chunk of many hours two hours at a time must not decompress it
    again at every read.
    """
    import h5py

    size, slots = 0, 0
    with h5py.File(fileobj, "r") as h5:
        for name, var in h5.items():
            if name not in ALIASES or not isinstance(var, h5py.Dataset) or var.ndim < 3:
                continue
            chunks = var.chunks
            if not chunks or chunks[0] <= 1:
                continue
            slab = int(
                np.prod([-(-n // c) for n, c in zip(var.shape[1:], chunks[1:], strict=True)])
            )
            size = max(size, slab * int(np.prod(chunks)) * var.dtype.itemsize)
            slots = max(slots, 2 * slab + 1)
    fileobj.seek(0)
    if not size:
        return {}
    return {"rdcc_nbytes": size + (1 << 20), "rdcc_nslots": max(slots, 521)}


def _open_raw(src: NamedSource, nc: Any = None) -> xr.Dataset:
    """Open lazily with CF decoding (packing, fill values, times)."""
    if src.path is not None and nc is None:
        return xr.open_dataset(src.path, engine="netcdf4", cache=False)
    nc = _open_nc(src) if nc is None else nc
    try:
        if type(nc).__module__.startswith("netCDF4"):
            return xr.open_dataset(xr.backends.NetCDF4DataStore(nc), cache=False)
        return xr.open_dataset(
            xr.backends.H5NetCDFStore(nc), cache=False, drop_variables=_unused(nc.variables)
        )
    except BaseException:
        nc.close()
        raise


def _unused(names: Iterable[str]) -> list[str]:
    """Variables this library never reads (auxiliary coordinates, other fields).

    Over range reads they would cost bytes: xarray loads ``expver``'s strings, tens of kB
    of a CDS file's heap, only for :func:`_normalise` to drop them. Kept all when the
    file holds no known variable, so that the error lists what it holds.
    """
    names = list(names)
    wanted = {*ALIASES, *_TIME_NAMES, *_LAT_NAMES, *_LON_NAMES}
    if not any(n in ALIASES for n in names):
        return []
    return [n for n in names if n not in wanted]


def open_dataset(source: NamedSource | str | os.PathLike[str] | bytes) -> xr.Dataset:
    """Open an ERA5 / ERA5-Land file lazily in the normalised layout.

    Parameters
    ----------
    source
        A path, raw bytes (e.g. an S3 object's body) or a :class:`NamedSource`.

    Returns
    -------
    xarray.Dataset
        Dims ``(time, latitude, longitude)`` with the known variables renamed to ``t2m`` /
        ``tp``; attrs ``source_file`` and, per variable, the original attributes.

    Raises
    ------
    InputError
        When the file cannot be read or lacks a time/latitude/longitude axis.
    """
    src = _as_named(source)
    try:
        raw = _open_raw(src)
    except Exception as exc:  # netCDF4 raises OSError, ValueError, KeyError...
        raise InputError(
            f"cannot read NetCDF ({type(exc).__name__}: {exc})", file=src.name
        ) from exc
    try:
        return _normalise(raw, src.name)
    except InputError:
        raw.close()
        raise
    except Exception as exc:
        raw.close()
        raise InputError(f"unexpected layout ({exc})", file=src.name) from exc


def _find(names: Sequence[str], available: Collection[Hashable], what: str, file: str) -> str:
    for name in names:
        if name in available:
            return name
    raise InputError(f"no {what} coordinate (looked for {', '.join(names)})", file=file)


def _normalise(ds: xr.Dataset, file: str, *, sort: bool = True) -> xr.Dataset:
    keep = {v: ALIASES[v] for v in ds.data_vars if v in ALIASES}
    if not keep:
        raise InputError(
            f"no t2m or tp variable (found {', '.join(map(str, ds.data_vars)) or 'none'})",
            file=file,
        )
    names = set(ds.dims) | set(ds.coords)
    tname = _find(_TIME_NAMES, names, "time", file)
    latname = _find(_LAT_NAMES, names, "latitude", file)
    lonname = _find(_LON_NAMES, names, "longitude", file)

    ds = ds[list(keep)].rename(keep)
    if "expver" in ds.dims:
        # Legacy CDS files mixing final ERA5 (expver 1) and ERA5T (expver 5) carry an
        # expver dimension where each time step is valid in exactly one member.
        # fillna member by member: bfill would need bottleneck, which is not a dependency.
        merged = ds.isel(expver=0)
        for i in range(1, ds.sizes["expver"]):
            merged = merged.fillna(ds.isel(expver=i))
        ds = merged
    ds = ds.rename({tname: "time", latname: "latitude", lonname: "longitude"})
    if "time" not in ds.dims:
        ds = ds.expand_dims("time")
    # Auxiliary coordinates (number, expver, step, surface...) describe the request, not
    # the field, and would block merging files from the two streams.
    ds = ds.reset_coords(drop=True)
    extra_dims = [d for d in ds.dims if d not in ("time", "latitude", "longitude")]
    for d in extra_dims:
        if ds.sizes[d] != 1:
            raise InputError(f"unsupported extra dimension {d} of size {ds.sizes[d]}", file=file)
    ds = ds.squeeze(extra_dims, drop=True).transpose("time", "latitude", "longitude")

    lon = ds["longitude"].values.astype(float)
    lat = ds["latitude"].values.astype(float)
    lon = np.round(np.where(lon >= 180.0, lon - 360.0, lon), COORD_DECIMALS)
    lat = np.round(lat, COORD_DECIMALS)
    ds = ds.assign_coords(longitude=lon, latitude=lat)
    if np.unique(lon).size != lon.size:
        raise InputError("duplicate longitudes after wrapping to [-180, 180)", file=file)
    if sort:
        # Lazy outer indexing: sorting reorders what is read, it does not read.
        ds = ds.sortby(["latitude", "longitude"])
    ds.attrs = {**ds.attrs, "source_file": file}
    marker = ds.attrs.get(SAMPLE_ATTR)
    if marker is not None:
        # The sample's global mark goes with each variable, which is what the daily
        # rules see of a file.
        for v in keep.values():
            ds[v] = ds[v].assign_attrs({SAMPLE_ATTR: str(marker)})
    return ds


#: Two copies of one sample agree when they match to this relative tolerance: exactly,
#: but for the float rounding of decoding another encoding (packed int16, float32 degC).
DUPLICATE_RTOL = 1e-6

#: A window per variable: ``(start, end, closed)`` as :func:`~era5_contours.variables.sample_window`.
Window = tuple[datetime, datetime, str]


@dataclass
class _Part:
    """The samples one file holds for one variable in its window."""

    source: str
    data: xr.DataArray


def _read_parts(
    sources: Sequence[NamedSource | str | os.PathLike[str] | bytes],
    windows: Mapping[str, Window],
    *,
    day: date | None,
    assume_units: Mapping[str, str] | None,
) -> tuple[dict[str, list[_Part]], list[str]]:
    """Each file's slice of each variable's window, in canonical units, all-NaN steps out."""
    parts: dict[str, list[_Part]] = {v: [] for v in windows}
    used: list[str] = []
    for source in sources:
        src = _as_named(source)
        ds = open_dataset(src)
        try:
            times = ds["time"].values
            for v, (start, end, closed) in windows.items():
                if v not in ds.data_vars:
                    continue
                index = np.flatnonzero(in_window(times, start, end, closed))
                if index.size == 0:
                    continue
                try:
                    sub = ds[v].isel(time=index).load()
                except Exception as exc:  # truncated files fail here, at the first real read
                    raise InputError(
                        f"cannot read data ({type(exc).__name__}: {exc})",
                        file=src.name,
                        day=day,
                        variable=v,
                    ) from exc
                sub = to_canonical(
                    sub, v, file=src.name, day=day, assume=(assume_units or {}).get(v)
                )
                # A time step that is NaN everywhere is a missing sample (the not yet
                # published tail of ERA5T), not a value that could conflict with another.
                has_data = np.isfinite(sub.values).reshape(sub.sizes["time"], -1).any(axis=1)
                sub = sub.isel(time=np.flatnonzero(has_data))
                # Kept even when empty: a day whose samples are all missing is incomplete
                # (0 samples), which is not the same as no file covering it.
                parts[v].append(_Part(src.name, sub.assign_attrs(source_file=src.name)))
                if src.name not in used:
                    used.append(src.name)
        finally:
            ds.close()
    return parts, used


def _grid_text(arr: xr.DataArray) -> str:
    return _axes_text(arr["latitude"].values, arr["longitude"].values)


def _same_grid(a: xr.DataArray, b: xr.DataArray) -> bool:
    return all(np.array_equal(a[d].values, b[d].values) for d in ("latitude", "longitude"))


def _combine(parts: list[_Part], variable: str, day: date | None) -> xr.DataArray:
    """One time series from the files' slices: one grid, each sample once.

    Raises
    ------
    InputError
        Naming both files, when two files are on different grids or hold different values
        for the same time.
    """
    first = parts[0]
    for part in parts[1:]:
        if not _same_grid(first.data, part.data):
            raise InputError(
                f"files on different grids: {first.source} is {_grid_text(first.data)}, "
                f"{part.source} is {_grid_text(part.data)}",
                day=day,
                variable=variable,
            )
    if len(parts) == 1:
        arr = first.data
        origin = [first.source] * arr.sizes["time"]
    else:
        arr = xr.concat(
            [p.data for p in parts], dim="time", join="override", combine_attrs="override"
        )
        origin = [p.source for p in parts for _ in range(p.data.sizes["time"])]
    times = arr["time"].values
    uniq, keep, counts = np.unique(times, return_index=True, return_counts=True)
    for t in uniq[counts > 1]:
        copies = np.flatnonzero(times == t)
        ref = arr.values[copies[0]]
        for other in copies[1:]:
            if origin[other] == origin[copies[0]]:
                raise InputError(
                    f"time {np.datetime_as_string(t, unit='m')} appears twice in the file",
                    file=origin[other],
                    day=day,
                    variable=variable,
                )
            values = arr.values[other]
            if not np.allclose(values, ref, rtol=DUPLICATE_RTOL, atol=0.0, equal_nan=True):
                diff = np.nanmax(np.abs(values.astype(float) - ref.astype(float)))
                raise InputError(
                    f"conflicting samples at {np.datetime_as_string(t, unit='m')} UTC: "
                    f"{origin[copies[0]]} and {origin[other]} hold different values "
                    f"(largest difference {diff:g} {arr.attrs.get('units', '')}); remove "
                    "one of them",
                    day=day,
                    variable=variable,
                )
    # Identical copies count once (the first in name order; they agree).
    unique: xr.DataArray = arr.isel(time=np.sort(keep)).sortby("time")  # Self: see pyproject
    return unique


def load_windows(
    sources: Sequence[NamedSource | str | os.PathLike[str] | bytes],
    windows: Mapping[str, Window],
    *,
    day: date | None = None,
    assume_units: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Read each variable's samples in its own window from several files into memory.

    Each file is opened lazily and only its slice of a window is read. Files may hold
    different variables (the CDS instant and accum streams) and different months (the
    D+1 00 UTC sample of a month's last day lives in the next month's file). Values are
    converted to each variable's canonical units from the file's own ``units``. Slices of
    one variable must share one grid; a time held by two files counts once when both
    hold the same values. Variables are joined on the rounded grid, which must be the same.

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
        A file is unreadable, units are missing or wrong, a variable is found in no file,
        files disagree on the grid or on a sample's values.
    """
    parts, used = _read_parts(sources, windows, day=day, assume_units=assume_units)
    arrays: dict[str, xr.DataArray] = {}
    for v, found in parts.items():
        if not found:
            start, end, _ = windows[v]
            raise InputError(
                f"no file holds this variable between {start:%Y-%m-%d %H:%M} and "
                f"{end:%Y-%m-%d %H:%M} UTC (files: {', '.join(_names(sources)) or 'none'})",
                day=day,
                variable=v,
            )
        with_samples = [p for p in found if p.data.sizes["time"]]
        arrays[v] = _combine(with_samples, v, day) if with_samples else found[0].data

    names = list(arrays)
    for other in names[1:]:
        if not _same_grid(arrays[names[0]], arrays[other]):
            raise InputError(
                f"variables are on different grids: {names[0]} is "
                f"{_grid_text(arrays[names[0]])}, {other} is {_grid_text(arrays[other])}",
                day=day,
                variable=",".join(names),
            )
    merged: xr.Dataset = xr.merge(
        [a.rename(v) for v, a in arrays.items()],
        join="outer",
        compat="override",
        combine_attrs="drop",
    )
    for v, a in arrays.items():
        merged[v].attrs = dict(a.attrs)
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


def _names(sources: Iterable[NamedSource | str | os.PathLike[str] | bytes]) -> list[str]:
    return [_as_named(s).name for s in sources]


def load_day(
    sources: Sequence[NamedSource | str | os.PathLike[str] | bytes],
    day: date,
    variables: Sequence[str],
    *,
    assume_units: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Read the samples the daily rules of ``variables`` need for ``day``.

    Each variable gets its rule's window (:func:`~era5_contours.variables.sample_window`):
    t2m 00..23 UTC of D, tp (D 00 UTC, D+1 00 UTC].
    """
    windows = {v: sample_window(v, day) for v in variables}
    return load_windows(sources, windows, day=day, assume_units=assume_units)


class TimeRange(TypedDict):
    """What :func:`file_time_range` tells of a file (times naive UTC, None when empty)."""

    variables: list[str]
    start: datetime | None
    end: datetime | None


def file_time_range(source: NamedSource | str | os.PathLike[str] | bytes) -> TimeRange:
    """Variables, first and last time of a file: what the job's planner needs.

    Only coordinates are read.
    """
    ds = open_dataset(source)
    try:
        times = ds["time"].values
        return {
            "variables": sorted(map(str, ds.data_vars)),
            "start": times.min().astype("datetime64[s]").item() if times.size else None,
            "end": times.max().astype("datetime64[s]").item() if times.size else None,
        }
    finally:
        ds.close()


# --------------------------------------------------------------------------- streaming


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
    nc: object  # netCDF4.Dataset, closed by DaySamples.close
    data: xr.DataArray  # normalised but not sorted: sorting happens in numpy per read
    index: np.ndarray  # positions in the file's time axis, in window
    times: np.ndarray  # their times (datetime64[ns])
    lat: np.ndarray  # sorted grid
    lon: np.ndarray
    lat_order: np.ndarray
    lon_order: np.ndarray
    scale: float
    offset: float


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
        ``t2m`` or ``tp``.
    window
        ``(start, end, closed)`` as :func:`~era5_contours.variables.sample_window`.
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
    ) -> None:
        if hours_per_read < 1:
            raise ValueError(f"hours_per_read must be at least 1, got {hours_per_read}")
        self.variable = variable
        self.window = window
        self.day = day
        self.hours_per_read = hours_per_read
        self._assume = (assume_units or {}).get(variable)
        self._parts: list[_StreamPart] = []
        self._names = _names(sources)
        try:
            for source in sources:
                part = self._open_part(_as_named(source))
                if part is not None:
                    self._parts.append(part)
        except BaseException:
            self.close()
            raise
        if not self._parts:
            start, end, _ = window
            raise InputError(
                f"no file holds this variable between {start:%Y-%m-%d %H:%M} and "
                f"{end:%Y-%m-%d %H:%M} UTC (files: {', '.join(self._names) or 'none'})",
                day=day,
                variable=variable,
            )
        first = self._parts[0]
        #: The grid of the first file in the window (every sample read is on it).
        self.latitude: np.ndarray = first.lat
        self.longitude: np.ndarray = first.lon
        #: The variable's attributes in the first file (product names for detection).
        self.attrs: dict[str, Any] = dict(first.data.attrs)
        #: Files that hold any time of the window, as :func:`load_windows` names them.
        self.source_files: list[str] = sorted({p.source for p in self._parts})

    def _open_part(self, src: NamedSource) -> _StreamPart | None:
        try:
            nc = _open_nc(src)
        except Exception as exc:  # netCDF4 raises OSError, ValueError, KeyError...
            raise InputError(
                f"cannot read NetCDF ({type(exc).__name__}: {exc})", file=src.name
            ) from exc
        try:
            raw = _open_raw(src, nc)
            ds = _normalise(raw, src.name, sort=False)
        except InputError:
            nc.close()
            raise
        except Exception as exc:
            nc.close()
            raise InputError(f"unexpected layout ({exc})", file=src.name) from exc
        v = self.variable
        index = (
            np.flatnonzero(in_window(ds["time"].values, *self.window))
            if v in ds.data_vars
            else np.empty(0, dtype=int)
        )
        if index.size == 0:
            nc.close()
            return None
        data = ds[v]
        scale, offset, _ = canonical_conversion(
            data.attrs, v, file=src.name, day=self.day, assume=self._assume
        )
        _cache_one_time_slab(nc, v)
        lat = data["latitude"].values
        lon = data["longitude"].values
        lat_order = np.argsort(lat, kind="stable")
        lon_order = np.argsort(lon, kind="stable")
        return _StreamPart(
            source=src.name,
            nc=nc,
            data=data.assign_attrs(source_file=src.name),
            index=index,
            times=ds["time"].values[index].astype("datetime64[ns]"),
            lat=lat[lat_order],
            lon=lon[lon_order],
            lat_order=lat_order,
            lon_order=lon_order,
            scale=scale,
            offset=offset,
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

    def _read(self, part: _StreamPart, positions: np.ndarray) -> np.ndarray:
        """Samples at ``positions`` of ``part.index``: one netCDF read per contiguous run."""
        out: list[np.ndarray] = []
        file_index = part.index[positions]
        runs = np.split(file_index, np.flatnonzero(np.diff(file_index) != 1) + 1)
        for run in runs:
            try:
                block = part.data.isel(time=slice(int(run[0]), int(run[-1]) + 1)).values
            except Exception as exc:  # truncated files fail here, at the first real read
                raise InputError(
                    f"cannot read data ({type(exc).__name__}: {exc})",
                    file=part.source,
                    day=self.day,
                    variable=self.variable,
                ) from exc
            block = _reorder(_reorder(block, part.lat_order, 1), part.lon_order, 2)
            if not np.issubdtype(block.dtype, np.floating):
                block = block.astype(np.float64)
            if part.scale != 1.0 or part.offset != 0.0:
                block = block * block.dtype.type(part.scale)  # a new array: never the file's
                block += block.dtype.type(part.offset)
            out.extend(block)
        return out  # type: ignore[return-value]

    def __iter__(self) -> Iterator[Sample]:
        """The samples in time order, each hour once, hours NaN everywhere left out.

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
                            f"{_axes_text(grid_of.lat, grid_of.lon)}, {part.source} is "
                            f"{_axes_text(part.lat, part.lon)}",
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


def _reorder(block: np.ndarray, order: np.ndarray, axis: int) -> np.ndarray:
    """``block`` taken in ``order`` along ``axis``: a view for the usual layouts.

    Descending latitude is a reversal and 0..360 longitude a rotation; a general
    permutation (never seen in CDS files) falls back to a copy.
    """
    n = order.size
    if n < 2 or np.array_equal(order, np.arange(n)):
        return block
    index: list[slice] = [slice(None)] * block.ndim
    if np.array_equal(order, np.arange(n - 1, -1, -1)):
        index[axis] = slice(None, None, -1)
        return block[tuple(index)]
    k = int(order[0])
    if np.array_equal(order, (np.arange(n) + k) % n):
        return np.roll(block, -k, axis=axis)
    return np.take(block, order, axis=axis)


def _cache_one_time_slab(nc: netCDF4.Dataset, variable: str) -> None:
    """Let the netCDF chunk cache hold the chunks of one time step of ``variable``.

    CDS files often store many hours in one chunk (a small file is one chunk). Reading
    such a file a couple of hours at a time would decompress the whole chunk at every
    read unless the chunk stays cached; a cache of the chunks one time step spans keeps
    each chunk decompressed once. Chunks of one hour need no cache.
    """
    if not hasattr(nc, "set_auto_maskandscale"):
        return  # h5netcdf: set when the file opened (_h5_chunk_cache)
    for name, var in nc.variables.items():
        if ALIASES.get(name) != variable or var.ndim < 3:
            continue
        chunks = var.chunking()
        if not isinstance(chunks, list) or chunks[0] <= 1:
            return
        slab = int(np.prod([-(-n // c) for n, c in zip(var.shape[1:], chunks[1:], strict=True)]))
        size = slab * int(np.prod(chunks)) * var.dtype.itemsize
        var.set_var_chunk_cache(size=size + (1 << 20), nelems=max(2 * slab + 1, 521))
        return


def _axes_text(lat: np.ndarray, lon: np.ndarray) -> str:
    def axis(values: np.ndarray) -> str:
        step = f" step {abs(float(np.diff(values).mean())):g}" if values.size > 1 else ""
        return f"{values[0]:g}..{values[-1]:g}{step}"

    return f"{lat.size}x{lon.size} (lat {axis(lat)}, lon {axis(lon)})"


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

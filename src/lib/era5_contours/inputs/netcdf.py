"""NetCDF in: ERA5 / ERA5-Land files opened and normalised to one layout.

Whatever the Climate Data Store delivered (legacy NetCDF3 with int16 packing and a
``time`` dimension, current NetCDF4 with ``valid_time``, ``lat/lon`` names, descending
latitude, 0..360 longitude, instant and accum streams in separate files), a file opens as
a Dataset with dimensions ``(time, latitude, longitude)``, latitude ascending, longitude
ascending in [-180, 180), coordinates rounded so that grids from different files join,
and only the variables this library knows. Files are opened lazily (coordinates and
attributes only); local files and bytes through netCDF4, S3 objects through h5netcdf over
range reads (:mod:`~era5_contours.inputs.remote`). A day's samples are read from them by
:mod:`~era5_contours.inputs.samples`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import xarray as xr

from era5_common.errors import InputError
from era5_common.variables import FILE_NAMES as ALIASES

from .datasets import SAMPLE_ATTR

if TYPE_CHECKING:
    import netCDF4

    from .remote import RangeFile

logger = logging.getLogger(__name__)

_TIME_NAMES = ("valid_time", "time")
#: The NSF NCAR copy's forecast axes (``e5.oper.fc.sfc.*``): a value is valid at
#: ``forecast_initial_time + forecast_hour``.
FORECAST_INIT, FORECAST_HOUR = "forecast_initial_time", "forecast_hour"
#: What that copy's forecasts are: runs from 06 and 18 UTC, hours 1..12 of each, so that
#: together they hold every hour once (ECMWF's runs go on to 18 hours; the copy cuts them).
FORECAST_INIT_HOURS = (6, 18)
FORECAST_HOURS = tuple(range(1, 13))
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


def as_named(source: NamedSource | str | os.PathLike[str] | bytes) -> NamedSource:
    """A path or bytes as a :class:`NamedSource` (a NamedSource as itself)."""
    if isinstance(source, NamedSource):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return NamedSource.from_bytes("<bytes>", source)
    return NamedSource.from_path(source)


def open_handle(src: NamedSource) -> Any:
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
                return open_handle(NamedSource(name=src.name, data=whole))
            return open_handle(NamedSource(name=src.name, path=whole))
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

    The counterpart of :func:`cache_one_time_slab` (which h5py can only set when a file
    opens): reading a chunk of many hours two hours at a time must not decompress it
    again at every read.
    """
    import h5py

    size, slots = 0, 0
    with h5py.File(fileobj, "r") as h5:
        for name, var in h5.items():
            if name not in ALIASES or not isinstance(var, h5py.Dataset) or var.ndim < 3:
                continue
            found = _slab(var.shape, var.chunks, var.dtype.itemsize)
            if found is not None:
                size, slots = max(size, found[0]), max(slots, found[1])
    fileobj.seek(0)
    if not size:
        return {}
    return {"rdcc_nbytes": size + (1 << 20), "rdcc_nslots": max(slots, 521)}


def open_raw(src: NamedSource, nc: Any = None) -> xr.Dataset:
    """Open lazily with CF decoding (packing, fill values, times)."""
    if src.path is not None and nc is None:
        return xr.open_dataset(src.path, engine="netcdf4", cache=False)
    nc = open_handle(src) if nc is None else nc
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
    of a CDS file's heap, only for :func:`normalise` to drop them. Kept all when the
    file holds no known variable, so that the error lists what it holds.
    """
    names = list(names)
    wanted = {*ALIASES, *_TIME_NAMES, *_LAT_NAMES, *_LON_NAMES, FORECAST_INIT, FORECAST_HOUR}
    if not any(n in ALIASES for n in names):
        return []
    return [n for n in names if n not in wanted]


def open_dataset(source: NamedSource | str | os.PathLike[str] | bytes) -> xr.Dataset:
    """Open an ERA5 / ERA5-Land file lazily in the normalised layout.

    A file of forecasts (NSF NCAR's ``e5.oper.fc.sfc.*``) comes with one ``time`` axis of
    its values' valid times; making that axis reads its data (the streaming reader,
    :mod:`~era5_contours.inputs.samples`, reads forecasts without it).

    Parameters
    ----------
    source
        A path, raw bytes (e.g. an S3 object's body) or a :class:`NamedSource`.

    Returns
    -------
    xarray.Dataset
        Dims ``(time, latitude, longitude)`` with the known variables renamed to their
        quantity's name (``2t`` and ``VAR_2T`` to ``t2m``); attrs ``source_file`` and, per
        variable, the original attributes.

    Raises
    ------
    InputError
        When the file cannot be read or lacks a time/latitude/longitude axis.
    """
    ds = open_normalised(source)
    if FORECAST_HOUR not in ds.dims:
        return ds
    flat = ds.stack(time=(FORECAST_INIT, FORECAST_HOUR))
    valid = flat["valid_time"].values
    flat = flat.drop_vars(["time", FORECAST_INIT, FORECAST_HOUR, "valid_time"])
    stacked: xr.Dataset = flat.assign_coords(time=valid).transpose("time", "latitude", "longitude")
    return stacked


def open_normalised(source: NamedSource | str | os.PathLike[str] | bytes) -> xr.Dataset:
    """A file opened lazily in the normalised layout, forecasts on their own two axes.

    Raises
    ------
    InputError
        When the file cannot be read or lacks a time/latitude/longitude axis.
    """
    src = as_named(source)
    try:
        raw = open_raw(src)
    except Exception as exc:  # netCDF4 raises OSError, ValueError, KeyError...
        raise InputError(
            f"cannot read NetCDF ({type(exc).__name__}: {exc})", file=src.name
        ) from exc
    try:
        return normalise(raw, src.name)
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


def normalise(ds: xr.Dataset, file: str, *, sort: bool = True) -> xr.Dataset:
    """A raw file's Dataset in the normalised layout (see the module docstring).

    ``sort=False`` keeps the file's own axis order (the stream reorders in numpy).
    """
    keep = {v: ALIASES[v] for v in ds.data_vars if v in ALIASES}
    if not keep:
        raise InputError(
            f"no variable of the registry (found {', '.join(map(str, ds.data_vars)) or 'none'};"
            f" the registry knows {', '.join(dict.fromkeys(ALIASES.values()))})",
            file=file,
        )
    names = set(ds.dims) | set(ds.coords)
    forecast = any(FORECAST_HOUR in ds[v].dims for v in keep)
    latname = _find(_LAT_NAMES, names, "latitude", file)
    lonname = _find(_LON_NAMES, names, "longitude", file)
    if forecast:
        ds = _forecasts(ds[list(keep)].rename(keep), file)
        ds = ds.rename({latname: "latitude", lonname: "longitude"})
        ds = ds.transpose(FORECAST_INIT, FORECAST_HOUR, "latitude", "longitude")
        return _finish(ds, keep, file, sort)
    tname = _find(_TIME_NAMES, names, "time", file)

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
    return _finish(ds, keep, file, sort)


def _forecasts(ds: xr.Dataset, file: str) -> xr.Dataset:
    """A file of forecasts (NSF NCAR's layout), checked, with its values' valid times.

    ``valid_time`` is a 2-D coordinate: ``forecast_initial_time + forecast_hour``.

    Raises
    ------
    InputError
        Naming the file, when its forecast axes are not what the layout says: a value
        would otherwise be taken for another hour and a daily total would be wrong.
    """
    for v in ds.data_vars:
        if FORECAST_INIT not in ds[v].dims or FORECAST_HOUR not in ds[v].dims:
            raise InputError(
                f"{v} has the dimensions {ds[v].dims}, not the forecasts' "
                f"({FORECAST_INIT}, {FORECAST_HOUR}, ...) of the file's other variables",
                file=file,
            )
    ds = ds.reset_coords(drop=True)
    extra = [d for d in ds.dims if d not in (FORECAST_INIT, FORECAST_HOUR) and ds.sizes[d] == 1]
    ds = ds.squeeze(extra, drop=True)
    inits = np.asarray(ds[FORECAST_INIT].values)
    hours = np.asarray(ds[FORECAST_HOUR].values)
    if np.issubdtype(hours.dtype, np.timedelta64):
        hours = hours / np.timedelta64(1, "h")
    if not np.issubdtype(inits.dtype, np.datetime64):
        raise InputError(f"{FORECAST_INIT} is not a time (its units?): {inits[:3]}", file=file)
    if hours.tolist() != list(FORECAST_HOURS):
        raise InputError(
            f"{FORECAST_HOUR} is {_short(hours)}, not 1..12: the valid times of this file's "
            "values cannot be told",
            file=file,
        )
    inits = inits.astype("datetime64[ns]")
    at = ((inits - inits.astype("datetime64[D]")) / np.timedelta64(1, "h")).astype(int)
    steps = np.diff(inits) / np.timedelta64(1, "h")
    if not set(at.tolist()) <= set(FORECAST_INIT_HOURS) or (steps != 12).any():
        raise InputError(
            f"{FORECAST_INIT} holds {_short(inits)}: not forecasts from 06 and 18 UTC 12 hours "
            "apart, so their hours 1..12 would not hold each hour once",
            file=file,
        )
    valid = inits[:, None] + (hours.astype(int) * np.timedelta64(1, "h"))[None, :]
    checked: xr.Dataset = ds.assign_coords(
        {
            FORECAST_INIT: inits,
            FORECAST_HOUR: hours.astype(int),
            "valid_time": ((FORECAST_INIT, FORECAST_HOUR), valid),
        }
    )
    return checked


def _short(values: np.ndarray) -> str:
    text = ", ".join(map(str, values[:3]))
    return f"[{text}{', ...' if values.size > 3 else ''}] ({values.size} values)"


def _finish(ds: xr.Dataset, keep: Mapping[str, str], file: str, sort: bool) -> xr.Dataset:
    """Grid coordinates rounded and wrapped to [-180, 180), the sample's mark carried."""
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


def source_names(sources: Iterable[NamedSource | str | os.PathLike[str] | bytes]) -> list[str]:
    """The names sources go by in messages."""
    return [as_named(s).name for s in sources]


class TimeRange(TypedDict):
    """What :func:`file_time_range` tells of a file (times naive UTC, None when empty)."""

    variables: list[str]
    start: datetime | None
    end: datetime | None
    #: The grid's extent: latitude and longitude (in [-180, 180)) low and high.
    latitude: tuple[float, float]
    longitude: tuple[float, float]


def valid_times(ds: xr.Dataset) -> np.ndarray:
    """The valid times of a normalised file's values, in file order (forecasts flattened)."""
    if "valid_time" in ds.coords and FORECAST_HOUR in ds.dims:
        return np.asarray(ds["valid_time"].values).ravel()
    return np.asarray(ds["time"].values)


def file_time_range(source: NamedSource | str | os.PathLike[str] | bytes) -> TimeRange:
    """Variables, first and last time of a file: what the job's planner needs.

    Only coordinates are read.
    """
    ds = open_normalised(source)
    try:
        times = valid_times(ds)
        lat, lon = ds["latitude"].values, ds["longitude"].values
        return {
            "variables": sorted(map(str, ds.data_vars)),
            "start": times.min().astype("datetime64[s]").item() if times.size else None,
            "end": times.max().astype("datetime64[s]").item() if times.size else None,
            "latitude": (float(lat.min()), float(lat.max())),
            "longitude": (float(lon.min()), float(lon.max())),
        }
    finally:
        ds.close()


def cache_one_time_slab(nc: netCDF4.Dataset, variable: str) -> None:
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
        found = _slab(var.shape, chunks if isinstance(chunks, list) else None, var.dtype.itemsize)
        if found is not None:
            var.set_var_chunk_cache(size=found[0] + (1 << 20), nelems=max(found[1], 521))
        return


def _slab(
    shape: Sequence[int], chunks: Sequence[int] | None, itemsize: int
) -> tuple[int, int] | None:
    """Bytes and cache slots of the chunks one time step spans, if a chunk holds several.

    The time axes are all but the last two (latitude, longitude): one for the CDS's files,
    two for NSF NCAR's forecasts, whose chunk is one forecast's 12 hours.
    """
    if not chunks:
        return None
    time_chunks, grid_chunks = chunks[:-2], chunks[-2:]
    if int(np.prod(time_chunks)) <= 1:
        return None
    slab = int(np.prod([-(-n // c) for n, c in zip(shape[-2:], grid_chunks, strict=True)]))
    return slab * int(np.prod(chunks)) * itemsize, 2 * slab + 1


def axes_text(lat: np.ndarray, lon: np.ndarray) -> str:
    """A grid as messages describe it: ``3x3 (lat 0..2 step 1, lon 0..2 step 1)``."""

    def axis(values: np.ndarray) -> str:
        step = f" step {abs(float(np.diff(values).mean())):g}" if values.size > 1 else ""
        return f"{values[0]:g}..{values[-1]:g}{step}"

    return f"{lat.size}x{lon.size} (lat {axis(lat)}, lon {axis(lon)})"

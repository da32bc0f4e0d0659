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

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import xarray as xr

logger = logging.getLogger(__name__)

#: Names the CDS and its converters have used for the variables we process.
VARIABLE_ALIASES: dict[str, str] = {
    "t2m": "t2m",
    "2t": "t2m",
    "VAR_2T": "t2m",
    "tp": "tp",
    "VAR_TP": "tp",
}
_TIME_NAMES = ("valid_time", "time")
_LAT_NAMES = ("latitude", "lat")
_LON_NAMES = ("longitude", "lon")
#: 1e-4 degrees (~11 m) absorbs float32 noise (13.100000381469727) and ERA5-Land's
#: non-exact 0.1 steps while keeping any real grid (>= 0.01 degrees) distinct.
COORD_DECIMALS = 4


class InputError(Exception):
    """Bad input for one file, day or variable; the message names all three."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        day: date | None = None,
        variable: str | None = None,
    ) -> None:
        self.file = file
        self.day = day
        self.variable = variable
        where = ", ".join(
            f"{k} {v}" for k, v in (("file", file), ("day", day), ("variable", variable)) if v
        )
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class NamedSource:
    """Bytes or a path, plus the name used in messages and lineage (e.g. the S3 URI)."""

    name: str
    data: bytes | None = None
    path: str | None = None

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> NamedSource:
        return cls(name=os.fspath(path), path=os.fspath(path))

    @classmethod
    def from_bytes(cls, name: str, data: bytes | memoryview) -> NamedSource:
        return cls(name=name, data=bytes(data))


def _as_named(source: NamedSource | str | os.PathLike[str] | bytes) -> NamedSource:
    if isinstance(source, NamedSource):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return NamedSource.from_bytes("<bytes>", source)
    return NamedSource.from_path(source)


def _open_raw(src: NamedSource) -> xr.Dataset:
    """Open lazily with CF decoding (packing, fill values, times)."""
    if src.path is not None:
        # The netCDF4 library reads NetCDF3 and NetCDF4 alike.
        return xr.open_dataset(src.path, engine="netcdf4", cache=False)
    assert src.data is not None
    import netCDF4

    # netCDF4 opens NetCDF3 and NetCDF4/HDF5 buffers in place: no temp file, one engine
    # for both formats (h5netcdf would need h5py and reads NetCDF4 only).
    nc = netCDF4.Dataset("in-memory.nc", mode="r", memory=src.data)
    return xr.open_dataset(xr.backends.NetCDF4DataStore(nc), cache=False)


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


def _find(names: Sequence[str], available: Iterable[str], what: str, file: str) -> str:
    for name in names:
        if name in available:
            return name
    raise InputError(f"no {what} coordinate (looked for {', '.join(names)})", file=file)


def _normalise(ds: xr.Dataset, file: str) -> xr.Dataset:
    keep = {v: VARIABLE_ALIASES[v] for v in ds.data_vars if v in VARIABLE_ALIASES}
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
    # Lazy outer indexing: sorting reorders what is read, it does not read.
    ds = ds.sortby(["latitude", "longitude"])
    ds.attrs = {**ds.attrs, "source_file": file}
    return ds


def _window(ds: xr.Dataset, start: datetime, end: datetime) -> xr.Dataset:
    times = ds["time"].values
    mask = (times >= np.datetime64(start, "ns")) & (times <= np.datetime64(end, "ns"))
    return ds.isel(time=np.flatnonzero(mask))


def load_window(
    sources: Sequence[NamedSource | str | os.PathLike[str] | bytes],
    start: datetime,
    end: datetime,
    variables: Sequence[str],
    *,
    day: date | None = None,
) -> xr.Dataset:
    """Read ``variables`` for ``start <= time <= end`` from several files into memory.

    Each file is opened lazily and only its slice of the window is read. Files may hold
    different variables (the CDS instant and accum streams) and different months (the
    D+1 00 UTC sample of a month's last day lives in the next month's file). Slices are
    concatenated along time (first occurrence wins on duplicates) and variables are
    joined on the rounded grid, which must be identical.

    Raises
    ------
    InputError
        A file is unreadable, a variable is found in no file, or grids differ.
    """
    per_var: dict[str, list[xr.DataArray]] = {v: [] for v in variables}
    used: list[str] = []
    for source in sources:
        src = _as_named(source)
        ds = open_dataset(src)
        try:
            sub = _window(ds, start, end)
            wanted = [v for v in variables if v in sub.data_vars]
            if sub.sizes["time"] == 0 or not wanted:
                continue
            try:
                sub = sub[wanted].load()
            except Exception as exc:  # truncated files fail here, at the first real read
                raise InputError(
                    f"cannot read data ({type(exc).__name__}: {exc})",
                    file=src.name,
                    day=day,
                    variable=",".join(wanted),
                ) from exc
            used.append(src.name)
            for v in wanted:
                per_var[v].append(sub[v].assign_attrs(source_file=src.name))
        finally:
            ds.close()

    arrays: dict[str, xr.DataArray] = {}
    for v, parts in per_var.items():
        if not parts:
            raise InputError(
                f"no file holds this variable between {start:%Y-%m-%d %H:%M} and "
                f"{end:%Y-%m-%d %H:%M} UTC (files: {', '.join(_names(sources)) or 'none'})",
                day=day,
                variable=v,
            )
        arr = parts[0] if len(parts) == 1 else xr.concat(parts, dim="time", join="exact")
        _, first = np.unique(arr["time"].values, return_index=True)
        arrays[v] = arr.isel(time=np.sort(first)).sortby("time")

    try:
        merged = xr.merge(
            [a.rename(v) for v, a in arrays.items()],
            join="outer",
            compat="override",
            combine_attrs="drop",
        )
        grids = {(a.sizes["latitude"], a.sizes["longitude"]) for a in arrays.values()}
        if len(grids) > 1 or any(
            merged.sizes[d] != a.sizes[d]
            for a in arrays.values()
            for d in ("latitude", "longitude")
        ):
            raise ValueError(f"grids differ: {sorted(grids)}")
    except ValueError as exc:
        raise InputError(
            f"variables are on different grids ({exc})", day=day, variable=",".join(arrays)
        ) from exc
    for v, a in arrays.items():
        merged[v].attrs = dict(a.attrs)
    merged.attrs["source_files"] = sorted(set(used))
    return merged


def _names(sources: Iterable[object]) -> list[str]:
    return [_as_named(s).name for s in sources]  # type: ignore[arg-type]


def day_window(day: date) -> tuple[datetime, datetime]:
    """The samples any daily rule may need: D 00:00 through D+1 00:00 UTC inclusive."""
    start = datetime(day.year, day.month, day.day)
    return start, start + timedelta(days=1)


def load_day(
    sources: Sequence[NamedSource | str | os.PathLike[str] | bytes],
    day: date,
    variables: Sequence[str],
) -> xr.Dataset:
    """Read the samples of ``day`` (D 00 UTC .. D+1 00 UTC) for ``variables``."""
    start, end = day_window(day)
    return load_window(sources, start, end, variables, day=day)


def file_time_range(source: NamedSource | str | os.PathLike[str] | bytes) -> dict:
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

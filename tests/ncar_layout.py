"""Files in the layout of the NSF NCAR ERA5 copy (``s3://nsf-ncar-era5``), from real data.

The copy's layout (RDA/GDEX dataset d633000; sources in NCAR_LAYOUT_NOTES / the README):

- analyses, one file a month: ``e5.oper.an.sfc/YYYYMM/e5.oper.an.sfc.128_167_2t.ll025sc.
  YYYYMM0100_YYYYMMDD23.nc`` holding ``VAR_2T(time, latitude, longitude)``;
- forecast accumulations, one file per half month: ``e5.oper.fc.sfc.accumu/YYYYMM/
  e5.oper.fc.sfc.accumu.<param>.ll025sc.YYYYMM0106_YYYYMM1606.nc`` (forecasts of the 1st
  06 UTC .. the 15th 18 UTC) and ``...YYYYMM1606_<next month>0106.nc`` (the 16th 06 UTC ..
  the last day 18 UTC), in the folder of the month the file starts in, holding
  ``X(forecast_initial_time, forecast_hour, latitude, longitude)``: forecasts start at 06
  and 18 UTC, ``forecast_hour`` runs 1..12 and each value is the accumulation over the
  hour ending at ``forecast_initial_time + forecast_hour`` (de-accumulated, per hour);
- the 0.25 degree global grid, latitude 90 -> -90 (721), longitude 0 -> 359.75 (1440);
  float32 data, gzip level 1 with byte shuffle, chunks (27, 139, 277) for analyses and
  one whole forecast (1, 12, 721, 1440) for forecast fields; int32 times in hours since
  1900-01-01 with an int32 ``utc_date`` (yyyymmddhh) beside them.

:func:`build` writes that layout from the real France July 2020 files in tests/data/era5
(the current CDS layout: ``valid_time``, longitude -6..10, tp stamped at the end of its
hour), for t2m as ``VAR_2T`` and tp as ``TP`` in ``128_228_tp`` files, the names issue 21
gives. **The real bucket holds no ``128_228_tp`` files**: its precipitation is
``128_142_lsp`` + ``128_143_cp`` (same layout, ``LSP`` / ``CP``) or the mean rate
``e5.oper.fc.sfc.meanflux.235_055_mtpr``; ``build(..., tp_as="lsp+cp")`` writes the pair
(large-scale + convective parts whose float32 sum is exactly the CDS tp) instead.

Two grids:

- ``"regional"``: the France cells only, longitudes on 0..360 in the global file's order
  (0..10 then 354..359.75, a cut of the global columns), latitude descending;
- ``"global"``: the 721 x 1440 grid with the France cells exact and a synthetic but
  physically plausible field elsewhere (NCAR files are global and have no gaps): a t2m
  with its latitude profile, a diurnal cycle following local solar time and a smooth join to France, a tp
  with an ITCZ and storm tracks, dry elsewhere.

What the real files do not hold is missing (the fill value, read back as NaN) rather than
invented: June's second-half file exists (06-16 06 UTC .. 07-01 06 UTC) but only its last
forecast's hours 6..12 (valid 07-01 00..06 UTC) are in the CDS files; in July's second
half the 07-31 18 UTC forecast's hours 6..12 (valid 08-01 00..06) are missing. ``days``
restricts the written hours to what those days' daily rules read (a month of the global
grid is ~3 GB of float32 per variable): the other hours of the files are left unwritten,
so they cost no disk and read as missing.
"""

from __future__ import annotations

import calendar
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

import netCDF4
import numpy as np
from realdata import FRANCE_T2M, FRANCE_TP

from era5_common.area import Area

BUCKET = "nsf-ncar-era5"
AN_SFC = "e5.oper.an.sfc"
ACCUMU = "e5.oper.fc.sfc.accumu"
T2M_PARAM = "128_167_2t"
TP_PARAM = "128_228_tp"
LSP_PARAM = "128_142_lsp"
CP_PARAM = "128_143_cp"
#: netCDF variable name of each parameter (upper-case short name; VAR_ before a digit).
VARIABLE = {T2M_PARAM: "VAR_2T", TP_PARAM: "TP", LSP_PARAM: "LSP", CP_PARAM: "CP"}
LONG_NAME = {
    T2M_PARAM: "2 metre temperature",
    TP_PARAM: "Total precipitation",
    LSP_PARAM: "Large-scale precipitation",
    CP_PARAM: "Convective precipitation",
}
UNITS = {T2M_PARAM: "K", TP_PARAM: "m", LSP_PARAM: "m", CP_PARAM: "m"}

EPOCH = datetime(1900, 1, 1)
TIME_UNITS = "hours since 1900-01-01 00:00:00"
FILL = np.float32(9.999e20)
FORECAST_HOURS = np.arange(1, 13, dtype=np.int32)
INIT_HOURS = (6, 18)
GLOBAL_LAT = 90.0 - 0.25 * np.arange(721)
GLOBAL_LON = 0.25 * np.arange(1440)
AN_CHUNKS = (27, 139, 277)
FC_CHUNKS = (1, 12, 721, 1440)

Grid = Literal["regional", "global"]


# --------------------------------------------------------------------------- names


def analysis_key(param: str, month: date) -> str:
    """Key of the monthly analysis file of ``param`` holding ``month``."""
    last = calendar.monthrange(month.year, month.month)[1]
    ym = f"{month.year:04d}{month.month:02d}"
    return f"{AN_SFC}/{ym}/{AN_SFC}.{param}.ll025sc.{ym}0100_{ym}{last:02d}23.nc"


def half_month_start(init: datetime) -> datetime:
    """First forecast (06 UTC on the 1st or the 16th) of the file holding forecast ``init``."""
    if init.hour not in INIT_HOURS or init.minute or init.second:
        raise ValueError(f"not an ERA5 forecast start (06 or 18 UTC): {init}")
    return init.replace(day=1 if init.day < 16 else 16, hour=6)


def next_half_month(start: datetime) -> datetime:
    """First forecast of the half-month file after the one starting at ``start``."""
    if start.day == 1:
        return start.replace(day=16)
    return (start.replace(day=1) + timedelta(days=32)).replace(day=1)


def accumu_key(param: str, init: datetime) -> str:
    """Key of the half-month accumulation file of ``param`` holding forecast ``init``.

    Its name spans the first forecast start to the last valid time: the last forecast
    (the 15th or the month's last day, 18 UTC) ends 12 hours later, at 06 UTC of the
    16th or of the next month's 1st.
    """
    start = half_month_start(init)
    end = next_half_month(start)
    return f"{ACCUMU}/{start:%Y%m}/{ACCUMU}.{param}.ll025sc.{start:%Y%m%d%H}_{end:%Y%m%d%H}.nc"


def forecast_starts(start: datetime) -> list[datetime]:
    """The forecasts (06 and 18 UTC) of the half-month file starting at ``start``."""
    end = next_half_month(start)
    out, t = [], start
    while t < end:
        out.append(t)
        t += timedelta(hours=12)
    return out


def hours_since_epoch(times: Iterable[datetime]) -> np.ndarray:
    return np.array([(t - EPOCH) // timedelta(hours=1) for t in times], dtype=np.int32)


def utc_dates(times: Iterable[datetime]) -> np.ndarray:
    return np.array([int(f"{t:%Y%m%d%H}") for t in times], dtype=np.int32)


# --------------------------------------------------------------------------- the real data


@dataclass(frozen=True)
class CdsField:
    """One variable of a CDS-layout file: hourly float32 values and their axes."""

    times: list[datetime]  # valid times (tp: end of its hour)
    lat: np.ndarray  # as in the file (descending)
    lon: np.ndarray  # as in the file (-6..10)
    values: np.ndarray  # (time, lat, lon) float32, NaN where missing

    def at(self) -> dict[datetime, int]:
        return {t: i for i, t in enumerate(self.times)}


def read_cds(path: Path, name: str) -> CdsField:
    """A variable of a CDS NetCDF4 file, read with netCDF4 (fill values to NaN)."""
    with netCDF4.Dataset(path) as nc:
        var = nc[name]
        var.set_auto_maskandscale(True)
        values = np.ma.filled(var[:].astype(np.float32), np.nan)
        tvar = nc["valid_time"]
        times = netCDF4.num2date(
            tvar[:],
            tvar.units,
            getattr(tvar, "calendar", "standard"),
            only_use_cftime_datetimes=False,
        )
        return CdsField(
            times=[datetime(t.year, t.month, t.day, t.hour) for t in times],
            lat=np.asarray(nc["latitude"][:], dtype=float),
            lon=np.asarray(nc["longitude"][:], dtype=float),
            values=values,
        )


# --------------------------------------------------------------------------- grids


@dataclass(frozen=True)
class Placement:
    """Where the France cells go in an NCAR-layout grid."""

    lat: np.ndarray  # the file's latitudes (descending)
    lon: np.ndarray  # the file's longitudes (0..360)
    rows: np.ndarray  # row of each France latitude (in the CDS file's order)
    cols: np.ndarray  # column of each France longitude (in the CDS file's order)


def placement(field: CdsField, grid: Grid) -> Placement:
    """The grid of ``grid`` and where ``field``'s cells are in it."""
    lon360 = np.mod(field.lon, 360.0)
    if grid == "global":
        lat, lon = GLOBAL_LAT, GLOBAL_LON
    else:
        # The cut of the global grid's columns and rows that holds France, in its order.
        lat = np.sort(field.lat)[::-1]
        lon = np.sort(lon360)
    rows = np.array([int(np.flatnonzero(np.isclose(lat, v))[0]) for v in field.lat])
    cols = np.array([int(np.flatnonzero(np.isclose(lon, v))[0]) for v in lon360])
    return Placement(lat, lon, rows, cols)


def _embed(place: Placement, france: np.ndarray, background: np.ndarray) -> np.ndarray:
    out = background.astype(np.float32, copy=True)
    out[np.ix_(place.rows, place.cols)] = france
    return out


def _distance_weight(place: Placement, field: CdsField, scale_deg: float = 12.0) -> np.ndarray:
    """1 over France, decaying with distance: how much of France's anomaly spreads out."""
    lat0 = float(np.mean(field.lat))
    lon0 = float(np.mean(np.mod(field.lon + 180.0, 360.0) - 180.0))
    dlon = (place.lon[None, :] - lon0 + 180.0) % 360.0 - 180.0
    dlat = place.lat[:, None] - lat0
    d2 = dlat**2 + (dlon * np.cos(np.radians(lat0))) ** 2
    return np.exp(-d2 / (2 * scale_deg**2))


def synthetic_t2m(place: Placement, when: datetime) -> np.ndarray:
    """A plausible July 2 m temperature (K): latitude profile, diurnal cycle by local time."""
    lat = np.radians(place.lat)[:, None]
    base = 300.0 - 45.0 * np.sin(lat - np.radians(10.0)) ** 2  # warmest near 10 N in July
    local_hour = (when.hour + place.lon[None, :] / 15.0) % 24.0
    diurnal = 4.0 * np.cos(lat) * np.cos(2 * np.pi * (local_hour - 15.0) / 24.0)
    wave = 3.0 * np.sin(np.radians(2 * place.lon[None, :])) * np.cos(lat) ** 2
    return (base + diurnal + wave).astype(np.float32)


def synthetic_tp(place: Placement, when: datetime) -> np.ndarray:
    """A plausible hourly precipitation (m): ITCZ and storm tracks, zero between showers."""
    lat = place.lat[:, None]
    lon = np.radians(place.lon[None, :])
    hours = (when - datetime(2020, 7, 1)).total_seconds() / 3600.0
    itcz = 8e-4 * np.exp(-(((lat - 8.0) / 5.0) ** 2))
    tracks = 4e-4 * (np.exp(-(((lat - 50.0) / 7.0) ** 2)) + np.exp(-(((lat + 48.0) / 7.0) ** 2)))
    # Weather moves east and comes and goes: only the crests of travelling waves rain.
    cells = np.sin(7 * lon - 2 * np.pi * hours / 60.0) * np.cos(3 * lon + np.radians(lat) * 5)
    rain = (itcz + tracks) * np.clip(cells, 0.0, None)
    rain[rain < 1e-6] = 0.0  # ERA5 writes exact zeros where it does not rain
    return rain.astype(np.float32)


# --------------------------------------------------------------------------- writing


_COMPRESSION = {"zlib": True, "complevel": 1, "shuffle": True}


def _chunks(wanted: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(min(w, s) for w, s in zip(wanted, shape, strict=True))


def _global_attributes(nc: netCDF4.Dataset, grid: Grid) -> None:
    nc.setncatts(
        {
            "Conventions": "CF-1.6",
            "DATA_SOURCE": "ECMWF: https://cds.climate.copernicus.eu, Copernicus Climate Data Store",
            "NETCDF_CONVERSION": "CISL RDA: Conversion from ECMWF GRIB 1 data to netCDF4.",
            "comment": (
                "Test file in the layout of the NSF NCAR ERA5 copy (RDA/GDEX d633000, "
                "s3://nsf-ncar-era5), written by era5-contours tests/ncar_layout.py from "
                f"C3S ERA5 hourly data over France, July 2020 ({grid} grid"
                + ("; values outside France are synthetic" if grid == "global" else "")
                + "). Contains modified Copernicus Climate Change Service information 2020."
            ),
        }
    )


def _axes(nc: netCDF4.Dataset, place: Placement) -> None:
    nc.createDimension("latitude", len(place.lat))
    nc.createDimension("longitude", len(place.lon))
    lat = nc.createVariable("latitude", "f8", ("latitude",))
    lat.setncatts({"long_name": "latitude", "short_name": "lat", "units": "degrees_north"})
    lat[:] = place.lat
    lon = nc.createVariable("longitude", "f8", ("longitude",))
    lon.setncatts({"long_name": "longitude", "short_name": "lon", "units": "degrees_east"})
    lon[:] = place.lon


def _data_variable(
    nc: netCDF4.Dataset, param: str, dims: tuple[str, ...], chunks: tuple[int, ...]
) -> netCDF4.Variable:
    var = nc.createVariable(
        VARIABLE[param], "f4", dims, chunksizes=chunks, fill_value=FILL, **_COMPRESSION
    )
    var.setncatts(
        {
            "long_name": LONG_NAME[param],
            "short_name": param.rsplit("_", 1)[1],
            "units": UNITS[param],
            "missing_value": FILL,
            "original_format": "WMO GRIB 1 with ECMWF local table",
            "ecmwf_local_table": np.int32(int(param.split("_")[0])),
            "ecmwf_parameter": np.int32(int(param.split("_")[1])),
            "rda_dataset": "ds633.0",
            "rda_dataset_doi": "DOI: 10.5065/BH6N-5N20",
        }
    )
    return var


def _hour_windows(days: Iterable[date] | None) -> set[datetime] | None:
    """Valid times the daily rules of ``days`` read: D 00 .. D+1 00 (both variables)."""
    if days is None:
        return None
    out: set[datetime] = set()
    for d in days:
        start = datetime(d.year, d.month, d.day)
        out.update(start + timedelta(hours=h) for h in range(25))
    return out


def write_analysis(
    out: Path, field: CdsField, month: date, grid: Grid, hours: set[datetime] | None = None
) -> Path:
    """The month's ``VAR_2T`` file; hours outside ``hours`` (when given) are left unwritten."""
    place = placement(field, grid)
    first = datetime(month.year, month.month, 1)
    ndays = calendar.monthrange(month.year, month.month)[1]
    times = [first + timedelta(hours=h) for h in range(24 * ndays)]
    at = field.at()
    weight = _distance_weight(place, field) if grid == "global" else None
    path = out / analysis_key(T2M_PARAM, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        _global_attributes(nc, grid)
        nc.createDimension("time", len(times))
        _axes(nc, place)
        tvar = nc.createVariable("time", "i4", ("time",))
        tvar.setncatts({"long_name": "time", "units": TIME_UNITS, "calendar": "gregorian"})
        tvar[:] = hours_since_epoch(times)
        udate = nc.createVariable("utc_date", "i4", ("time",))
        udate.setncatts(
            {
                "long_name": "UTC date yyyy-mm-dd hh:00:00 as yyyymmddhh",
                "units": "Gregorian_year month day hour",
            }
        )
        udate[:] = utc_dates(times)
        shape = (len(times), len(place.lat), len(place.lon))
        chunks = _chunks(AN_CHUNKS, shape)
        var = _data_variable(nc, T2M_PARAM, ("time", "latitude", "longitude"), chunks)
        # Whole time-chunks at once: written an hour at a time, each chunk (27 hours of a
        # tile) would be decompressed and compressed again for each of its hours.
        for first_hour in range(0, len(times), chunks[0]):
            span = times[first_hour : first_hour + chunks[0]]
            if hours is not None and not hours.intersection(span):
                continue  # left unwritten: no chunk, reads as missing
            block = np.ma.masked_all((len(span), *shape[1:]), dtype=np.float32)
            for k, t in enumerate(span):
                j = at.get(t)
                if j is None or (hours is not None and t not in hours):
                    continue
                block[k] = _grid_field(place, field.values[j], t, weight, synthetic_t2m)
            var[first_hour : first_hour + len(span)] = block
    return path


def _grid_field(
    place: Placement,
    france: np.ndarray,
    when: datetime,
    weight: np.ndarray | None,
    synthetic: Callable[[Placement, datetime], np.ndarray],
) -> np.ma.MaskedArray:
    """One hour on the file's grid: France exact, synthetic elsewhere (global grid)."""
    if weight is None:  # the regional grid is France's cells
        values = np.empty((len(place.lat), len(place.lon)), dtype=np.float32)
    else:
        values = synthetic(place, when)
        if synthetic is synthetic_t2m:
            # Spread France's departure from the synthetic field smoothly around it, so
            # that its border is no cliff.
            inside = values[np.ix_(place.rows, place.cols)]
            offset = np.float32(np.nanmean(france - inside))
            values = values + offset * weight.astype(np.float32)
    return np.ma.masked_invalid(_embed(place, france, values))


def write_accumulation(
    out: Path,
    fields: dict[str, CdsField],
    start: datetime,
    grid: Grid,
    hours: set[datetime] | None = None,
) -> list[Path]:
    """The half-month files starting at ``start``, one per parameter of ``fields``.

    ``fields`` maps a parameter (``128_228_tp``, or ``128_142_lsp`` and ``128_143_cp``)
    to its hourly values in the CDS layout (stamped at the end of each hour). Each value
    of the file at (forecast start i, forecast hour h) is the field at i + h.
    """
    inits = forecast_starts(start)
    written = []
    for param, field in fields.items():
        place = placement(field, grid)
        at = field.at()
        weight = _distance_weight(place, field) if grid == "global" else None
        path = out / accumu_key(param, start)
        path.parent.mkdir(parents=True, exist_ok=True)
        with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
            _global_attributes(nc, grid)
            nc.createDimension("forecast_initial_time", len(inits))
            nc.createDimension("forecast_hour", len(FORECAST_HOURS))
            _axes(nc, place)
            fit = nc.createVariable("forecast_initial_time", "i4", ("forecast_initial_time",))
            fit.setncatts(
                {"long_name": "forecast_initial_time", "units": TIME_UNITS, "calendar": "gregorian"}
            )
            fit[:] = hours_since_epoch(inits)
            fh = nc.createVariable("forecast_hour", "i4", ("forecast_hour",))
            fh.setncatts({"long_name": "forecast_hour", "units": "hours"})
            fh[:] = FORECAST_HOURS
            udate = nc.createVariable("utc_date", "i4", ("forecast_initial_time",))
            udate.setncatts(
                {
                    "long_name": "UTC date yyyy-mm-dd hh:00:00 as yyyymmddhh",
                    "units": "Gregorian_year month day hour",
                }
            )
            udate[:] = utc_dates(inits)
            shape = (len(inits), len(FORECAST_HOURS), len(place.lat), len(place.lon))
            var = _data_variable(
                nc,
                param,
                ("forecast_initial_time", "forecast_hour", "latitude", "longitude"),
                _chunks(FC_CHUNKS, shape),
            )
            for i, init in enumerate(inits):
                valid = [init + timedelta(hours=int(h)) for h in FORECAST_HOURS]
                if hours is not None and not hours.intersection(valid):
                    continue  # left unwritten: no chunk, reads as missing
                block = np.ma.masked_all((len(FORECAST_HOURS), *shape[2:]), dtype=np.float32)
                for k, t in enumerate(valid):
                    j = at.get(t)
                    if j is None or (hours is not None and t not in hours):
                        continue
                    block[k] = _grid_field(place, field.values[j], t, weight, synthetic_tp)
                var[i] = block
        written.append(path)
    return written


def split_lsp_cp(tp: CdsField) -> dict[str, CdsField]:
    """Large-scale and convective parts of ``tp`` whose float32 sum is exactly ``tp``.

    ERA5's tp is lsp + cp; the CDS files hold the sum only, so the split is made up: lsp
    takes a share in [0.5, 1] varying in space and time, cp the rest. With lsp within a
    factor 2 of tp, ``tp - lsp`` is exact in floating point (Sterbenz), and so is
    ``lsp + cp``: a reader summing the two files gets the CDS values bit for bit.
    """
    t = np.arange(len(tp.times), dtype=np.float32)[:, None, None]
    i = np.arange(len(tp.lat), dtype=np.float32)[None, :, None]
    j = np.arange(len(tp.lon), dtype=np.float32)[None, None, :]
    share = (0.75 + 0.25 * np.sin(0.3 * i + 0.2 * j + 0.1 * t)).astype(np.float32)
    lsp = (tp.values * share).astype(np.float32)
    cp = (tp.values - lsp).astype(np.float32)
    return {
        LSP_PARAM: CdsField(tp.times, tp.lat, tp.lon, lsp),
        CP_PARAM: CdsField(tp.times, tp.lat, tp.lon, cp),
    }


def build(
    out: Path,
    *,
    grid: Grid = "regional",
    days: Iterable[date] | None = None,
    t2m: Path = FRANCE_T2M,
    tp: Path = FRANCE_TP,
    tp_as: Literal["tp", "lsp+cp"] = "tp",
) -> list[Path]:
    """Write the July 2020 files of the NCAR layout under ``out``; their paths.

    Keys (paths under ``out``) are the bucket's: ``e5.oper.an.sfc/202007/...`` for t2m,
    ``e5.oper.fc.sfc.accumu/202006/...2020061606_2020070106.nc`` and the two July halves
    for tp (``tp_as="lsp+cp"``: the LSP and CP files of each half instead).

    Parameters
    ----------
    out
        The folder standing for the bucket's root.
    grid
        ``"regional"`` (the France cells, longitudes 0..360) or ``"global"`` (721 x 1440).
    days
        When given, only the hours these days' daily rules read (D 00 .. D+1 00) are
        written; the rest of the files is missing. All of July otherwise.
    t2m, tp
        The CDS-layout files (default: the real France July 2020 files).
    tp_as
        ``"tp"`` for ``128_228_tp`` files (the issue's layout), ``"lsp+cp"`` for the pair
        the real bucket has.
    """
    hours = _hour_windows(days)
    t2m_field = read_cds(t2m, "t2m")
    tp_field = read_cds(tp, "tp")
    accum = {TP_PARAM: tp_field} if tp_as == "tp" else split_lsp_cp(tp_field)
    paths = [write_analysis(out, t2m_field, date(2020, 7, 1), grid, hours)]
    for start in (datetime(2020, 6, 16, 6), datetime(2020, 7, 1, 6), datetime(2020, 7, 16, 6)):
        paths += write_accumulation(out, accum, start, grid, hours)
    return paths


def area_chunk_bytes(files: list[Path], area: Area, days: list[date]) -> int:
    """Stored bytes of the chunks holding the area's samples of ``days`` (h5py)."""
    import h5py
    import xarray as xr

    from era5_contours.inputs.windows import in_window, sample_window

    total = 0
    for path in files:
        with xr.open_dataset(path) as ds, h5py.File(path, "r") as h5:
            name = next(v for v in ds.data_vars if v in ("VAR_2T", "LSP", "CP"))
            var = h5[name]
            quantity = {"VAR_2T": "t2m", "LSP": "lsp", "CP": "cp"}[name]
            lat = ds["latitude"].values
            lon = area.longitudes(ds["longitude"].values)
            rows = np.flatnonzero((lat >= area.south) & (lat <= area.north))
            cols = np.flatnonzero(lon <= area.east)
            if "forecast_hour" in ds[name].dims:
                valid = ds["valid_time"].values if "valid_time" in ds else None
                inits = ds["forecast_initial_time"].values
                hours = ds["forecast_hour"].values
                if np.issubdtype(hours.dtype, np.timedelta64):
                    hours = hours / np.timedelta64(1, "h")
                valid = inits[:, None] + (hours.astype(int) * np.timedelta64(1, "h"))[None, :]
                need = np.zeros(valid.shape, bool)
                for day in days:
                    need |= in_window(valid.ravel(), *sample_window(quantity, day)).reshape(
                        valid.shape
                    )
                points = [(i, j) for i, j in zip(*np.nonzero(need), strict=True)]
            else:
                times = ds["time"].values
                need = np.zeros(times.shape, bool)
                for day in days:
                    need |= in_window(times, *sample_window(quantity, day))
                points = [(t,) for t in np.flatnonzero(need)]
            chunks = var.chunks
            seen = set()
            for lead in points:
                for r in rows:
                    for c in cols:
                        index = (*lead, r, c)
                        seen.add(tuple((i // k) * k for i, k in zip(index, chunks, strict=True)))
            for offset in seen:
                # An unwritten chunk costs nothing (h5py raises for it).
                with contextlib.suppress(KeyError, RuntimeError, ValueError):
                    total += var.id.get_chunk_info_by_coord(offset).size
    return total

"""Expectations computed straight from raw ERA5 files with xarray, never with the library.

Shared by the job tests (local and S3): the daily fields of one day and the statistics
daily_summary must hold.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import xarray as xr


def era5_daily(day: date, t2m_path: Path, tp_path: Path) -> dict[str, np.ndarray]:
    """Daily mean t2m (degC, 00..23 UTC) and ERA5 total tp (mm, (D 00, D+1 00]), as stored."""
    start = np.datetime64(day.isoformat())
    with xr.open_dataset(t2m_path) as t:
        sel = t["t2m"].sel(valid_time=slice(start, start + np.timedelta64(23, "h")))
        assert sel.sizes["valid_time"] == 24
        t2m = sel.mean("valid_time").values - 273.15
        lat = t["latitude"].values
    with xr.open_dataset(tp_path) as p:
        times = p["valid_time"].values
        mask = (times > start) & (times <= start + np.timedelta64(24, "h"))
        tp = p["tp"].isel(valid_time=np.flatnonzero(mask)).sum("valid_time").values * 1000.0
    return {"t2m": t2m, "tp": tp, "lat": lat}


def field_stats(values: np.ndarray, lat: np.ndarray) -> dict[str, float]:
    """min, mean, cos(latitude)-weighted mean and max of a (lat, lon) field without NaN."""
    w = np.cos(np.deg2rad(lat))[:, None] * np.ones_like(values)
    return {
        "field_min": float(values.min()),
        "field_mean": float(values.mean()),
        "field_mean_weighted": float((values * w).sum() / w.sum()),
        "field_max": float(values.max()),
    }


#: The units the test files use, to the reader's canonical ones (K, m): written out here,
#: not taken from the library's pint registry.
_TO_CANONICAL = {"K": (1.0, 0.0), "degC": (1.0, 273.15), "m": (1.0, 0.0), "mm": (1e-3, 0.0)}


def window_samples(paths, variable, start, end, closed="both"):
    """A variable's hourly samples in a window, read with xarray alone.

    Returns ``(times, values, sources, latitude, longitude)``: the distinct times holding
    data (a step NaN everywhere is a missing sample), in order, the first file's copy of
    each, in canonical units (K, m) on the ascending [-180, 180) grid; ``sources`` the files
    holding any time of the window, sorted.
    """
    start, end = np.datetime64(start, "ns"), np.datetime64(end, "ns")
    kept: dict = {}
    sources = set()
    grid = None
    for path in paths:
        with xr.open_dataset(path) as ds:
            name = next(n for n in (variable, {"t2m": "2t"}.get(variable, variable)) if n in ds)
            da = ds[name]
            rename = {
                next(d for d in da.dims if d in (a, b)): a
                for a, b in (("time", "valid_time"), ("latitude", "lat"), ("longitude", "lon"))
            }
            da = da.rename(rename)
            lon = da["longitude"].values
            da = da.assign_coords(longitude=np.where(lon >= 180, lon - 360, lon))
            da = da.sortby(["latitude", "longitude"]).transpose("time", "latitude", "longitude")
            scale, offset = _TO_CANONICAL[da.attrs["units"]]
            times = da["time"].values.astype("datetime64[ns]")
            after = times >= start if closed in ("left", "both") else times > start
            before = times <= end if closed in ("right", "both") else times < end
            index = np.flatnonzero(after & before)
            if index.size:
                sources.add(str(path))
            for i in index:
                values = da.isel(time=int(i)).values.astype(np.float64) * scale + offset
                if np.isfinite(values).any() and times[i] not in kept:
                    kept[times[i]] = values
                    grid = (da["latitude"].values, da["longitude"].values)
    order = sorted(kept)
    values = np.stack([kept[t] for t in order]) if order else np.empty((0,))
    return np.array(order), values, sorted(sources), *(grid or (None, None))

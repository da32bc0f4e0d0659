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

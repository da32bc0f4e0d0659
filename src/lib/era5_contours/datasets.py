"""Which product a file is: ERA5 or ERA5-Land.

The two differ in what ``tp`` means (ERA5: the hour ending at ``valid_time``; ERA5-Land:
accumulated since 00 UTC) and nothing in a CDS NetCDF states it. The evidence, strongest
first: product names in the metadata; the growth of ``tp`` through the day (ERA5-Land
never decreases between 01 UTC and D+1 00 UTC); NaN over the sea (ERA5-Land is a land
model); the grid spacing (0.1 degrees native for ERA5-Land, 0.25 for ERA5).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr

logger = logging.getLogger(__name__)

ERA5 = "era5"
ERA5_LAND = "era5-land"
DATASETS = (ERA5, ERA5_LAND)

#: Tolerance (metres) for "did not decrease": the CDS's float32 and GRIB packing noise.
_GROWTH_TOLERANCE_M = 1e-6
#: Cells with less than this over the day (metres) say nothing about accumulation.
_RAIN_THRESHOLD_M = 1e-4


@dataclass(frozen=True)
class Detection:
    """The product and why it was chosen."""

    dataset: str
    reason: str


def normalise_name(name: str) -> str:
    """Map user spellings (``ERA5_Land``, ``era5land``) to :data:`DATASETS`."""
    key = name.strip().lower().replace("_", "-")
    if key in ("era5-land", "era5land"):
        return ERA5_LAND
    if key == ERA5:
        return ERA5
    raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(DATASETS)} or auto")


def _metadata_hint(ds: xr.Dataset) -> str | None:
    # File names are the user's choice, not metadata: leave source_file(s) out.
    skip = ("source_file", "source_files")
    texts = [str(v) for k, v in ds.attrs.items() if k not in skip]
    for var in ds.data_vars.values():
        texts.extend(str(v) for k, v in var.attrs.items() if k not in skip)
    blob = " ".join(texts).lower()
    if "era5-land" in blob or "era5_land" in blob or "era5land" in blob:
        return ERA5_LAND
    if "reanalysis-era5-single-levels" in blob or "era5 hourly data on single levels" in blob:
        return ERA5
    return None


def _growth_hint(tp: xr.DataArray) -> tuple[str | None, str]:
    """Cumulative or hourly, from how rainy cells evolve over (D 00, D+1 00]."""
    if tp.sizes.get("time", 0) < 4:
        return None, "fewer than 4 tp samples"
    values = tp.values.astype(float)
    rainy = np.nan_to_num(values, nan=-np.inf).max(axis=0) > _RAIN_THRESHOLD_M
    if rainy.sum() < 3:
        return None, "too few rainy cells"
    series = values[:, rainy]
    steps = np.diff(series, axis=0)
    decreases = np.nansum(steps < -_GROWTH_TOLERANCE_M)
    share = decreases / max(np.isfinite(steps).sum(), 1)
    if share == 0:
        return ERA5_LAND, f"tp never decreases within the day over {int(rainy.sum())} rainy cells"
    if share > 0.02:
        return ERA5, f"tp decreases in {share:.0%} of hourly steps of rainy cells"
    return None, f"tp decreases in {share:.1%} of steps: inconclusive"


def _grid_spacing(ds: xr.Dataset) -> float | None:
    lat = ds["latitude"].values
    if lat.size < 2:
        return None
    return float(np.round(np.median(np.abs(np.diff(lat))), 3))


def detect_dataset(ds: xr.Dataset, override: str | None = None) -> Detection:
    """Tell ERA5 from ERA5-Land.

    Parameters
    ----------
    ds
        Normalised data (see :mod:`era5_contours.reading`), ideally the samples of one
        day from D 00 UTC to D+1 00 UTC.
    override
        ``"era5"`` or ``"era5-land"`` to skip detection; ``None`` or ``"auto"`` to detect.
    """
    if override and override != "auto":
        return Detection(normalise_name(override), "given explicitly")
    hint = _metadata_hint(ds)
    if hint:
        return Detection(hint, "named in the file metadata")
    if "tp" in ds:
        tp = ds["tp"]
        times = tp["time"].values
        if times.size:
            # The D 00 UTC sample closes the previous day in both products: skip it.
            day_start = times.min().astype("datetime64[D]")
            tp = tp.isel(time=np.flatnonzero(times > day_start))
        found, why = _growth_hint(tp)
        if found:
            return Detection(found, why)
        logger.debug("accumulation test inconclusive: %s", why)
    for name in ("t2m", "tp"):
        if name in ds:
            field = ds[name].isel(time=0).values
            nan_share = float(np.isnan(field).mean())
            if 0.0 < nan_share < 1.0:
                return Detection(ERA5_LAND, f"{name} is NaN over {nan_share:.0%} of cells (sea)")
    spacing = _grid_spacing(ds)
    if spacing is not None and abs(spacing - 0.1) < 1e-3:
        return Detection(ERA5_LAND, "0.1 degree grid")
    return Detection(ERA5, f"{spacing} degree grid, no NaN over sea")

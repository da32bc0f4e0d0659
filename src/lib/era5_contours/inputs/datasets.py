"""Which product a file is: ERA5 or ERA5-Land.

The two differ in what ``tp`` means (ERA5: the hour ending at ``valid_time``; ERA5-Land:
accumulated since 00 UTC) and nothing in a CDS NetCDF states it. The evidence, strongest
first: product names in the metadata; the growth of ``tp`` through the day (ERA5-Land
never decreases between 01 UTC and D+1 00 UTC); NaN over the sea (ERA5-Land is a land
model); the grid spacing (0.1 degrees native for ERA5-Land, 0.25 for ERA5).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from era5_common.products import DATASETS, ERA5, ERA5_LAND, normalise_name
from era5_common.variables import ACCUMULATION, QUANTITIES

logger = logging.getLogger(__name__)

__all__ = ["DATASETS", "ERA5", "ERA5_LAND", "Detection", "Evidence", "normalise_name"]

#: The global attribute of the files ``era5_tools.sample`` makes up: the quickstart's and
#: the tests' synthetic data, not ECMWF's. Reading carries it onto the file's variables,
#: the daily field keeps it, and the maps and GeoJSON then say "synthetic sample".
SAMPLE_ATTR = "synthetic_sample"

#: Tolerance (metres) for "did not decrease": the CDS's float32 and GRIB packing noise.
_GROWTH_TOLERANCE_M = 1e-6
#: Cells with less than this over the day (metres) say nothing about accumulation.
_RAIN_THRESHOLD_M = 1e-4


@dataclass(frozen=True)
class Detection:
    """The product and why it was chosen."""

    dataset: str
    reason: str


class GrowthCounter:
    """Whether ``tp`` accumulates through the day, fed one hourly field at a time.

    Counts, over the rainy cells (more than 0.1 mm at some hour), the hourly steps in
    which ``tp`` decreased: hourly ERA5 values go up and down, ERA5-Land's accumulation
    since 00 UTC never decreases. Holds the previous field and three per-cell counters,
    never the day.
    """

    def __init__(self) -> None:
        self.samples = 0
        self._prev: np.ndarray | None = None
        self._max: np.ndarray | None = None
        self._decreases: np.ndarray | None = None
        self._finite_steps: np.ndarray | None = None

    def add(self, values: np.ndarray) -> None:
        """The next hourly field (metres), in time order."""
        values = np.asarray(values)
        if self._prev is None:
            # fmax skips NaN: a cell's maximum over the hours it has (NaN if it has none).
            self._max = values.copy()
            self._decreases = np.zeros(values.shape, dtype=np.uint16)
            self._finite_steps = np.zeros(values.shape, dtype=np.uint16)
        else:
            assert self._max is not None and self._decreases is not None
            assert self._finite_steps is not None
            np.fmax(self._max, values, out=self._max)
            # In the samples' own precision: a float32 difference of two float32 values is
            # within half an ulp of the result (exact within a factor of 2, Sterbenz), far
            # below the 1e-6 m tolerance, and half the memory traffic of float64 (this
            # counter was a third of a global 0.1 degree tp day's reading).
            step = np.subtract(values, self._prev)
            self._decreases += step < -_GROWTH_TOLERANCE_M
            self._finite_steps += ~np.isnan(step)
        self._prev = values
        self.samples += 1

    def hint(self) -> tuple[str | None, str]:
        """The product the growth points to (or None) and why."""
        if self.samples < 4:
            return None, "fewer than 4 tp samples"
        assert self._max is not None and self._decreases is not None
        assert self._finite_steps is not None
        rainy = self._max.astype(float) > _RAIN_THRESHOLD_M
        if rainy.sum() < 3:
            return None, "too few rainy cells"
        decreases = int(self._decreases[rainy].sum(dtype=np.int64))
        steps = int(self._finite_steps[rainy].sum(dtype=np.int64))
        share = decreases / max(steps, 1)
        if share == 0:
            return (
                ERA5_LAND,
                f"tp never decreases within the day over {int(rainy.sum())} rainy cells",
            )
        if share > 0.02:
            return ERA5, f"tp decreases in {share:.0%} of hourly steps of rainy cells"
        return None, f"tp decreases in {share:.1%} of steps: inconclusive"


@dataclass
class Evidence:
    """What tells the products apart, gathered from a day's samples (whole or streamed).

    ``metadata`` is the product named in attributes, ``growth`` the accumulation test of
    precipitation, ``nan_share`` the share of NaN cells in each field's first sample, and
    ``spacing`` the latitude step of the grid.
    """

    metadata: str | None = None
    growth: tuple[str | None, str] | None = None
    nan_share: dict[str, float] = field(default_factory=dict)
    spacing: float | None = None

    def decide(self, override: str | None = None) -> Detection:
        """ERA5 or ERA5-Land, the strongest evidence first (see the module docstring)."""
        if override and override != "auto":
            return Detection(normalise_name(override), "given explicitly")
        if self.metadata:
            return Detection(self.metadata, "named in the file metadata")
        if self.growth is not None:
            found, why = self.growth
            if found:
                return Detection(found, why)
            logger.debug("accumulation test inconclusive: %s", why)
        for name, share in self.nan_share.items():
            if 0.0 < share < 1.0:
                return Detection(ERA5_LAND, f"{name} is NaN over {share:.0%} of cells (sea)")
        spacing = self.spacing
        if spacing is not None and abs(spacing - 0.1) < 1e-3:
            return Detection(ERA5_LAND, "0.1 degree grid")
        return Detection(ERA5, f"{spacing} degree grid, no NaN over sea")


def metadata_hint(attrs: Sequence[Mapping[str, Any]]) -> str | None:
    """The product named in attribute dictionaries (file names excluded), if any."""
    # File names are the user's choice, not metadata: leave source_file(s) out.
    skip = ("source_file", "source_files", SAMPLE_ATTR)
    blob = " ".join(str(v) for a in attrs for k, v in a.items() if k not in skip).lower()
    if "era5-land" in blob or "era5_land" in blob or "era5land" in blob:
        return ERA5_LAND
    if "reanalysis-era5-single-levels" in blob or "era5 hourly data on single levels" in blob:
        return ERA5
    return None


def nan_share(values: np.ndarray) -> float:
    """Share of NaN cells in a field."""
    return float(np.isnan(values).mean())


def grid_spacing(latitude: np.ndarray) -> float | None:
    """The latitude step of a grid (rounded to 0.001 degrees), None for one row."""
    if latitude.size < 2:
        return None
    return float(np.round(np.median(np.abs(np.diff(latitude))), 3))


def detect_dataset(ds: xr.Dataset, override: str | None = None) -> Detection:
    """Tell ERA5 from ERA5-Land.

    Parameters
    ----------
    ds
        Normalised data (see :mod:`era5_contours.inputs.netcdf`), ideally the samples of one
        day from D 00 UTC to D+1 00 UTC.
    override
        ``"era5"`` or ``"era5-land"`` to skip detection; ``None`` or ``"auto"`` to detect.
    """
    if override and override != "auto":
        return Detection(normalise_name(override), "given explicitly")
    evidence = Evidence(
        metadata=metadata_hint([ds.attrs, *(v.attrs for v in ds.data_vars.values())]),
        spacing=grid_spacing(ds["latitude"].values),
    )
    names = [str(n) for n in ds.data_vars if str(n) in QUANTITIES]
    # An accumulation's growth through the day decides best; the first one held tells.
    for name in sorted(names, key=lambda n: QUANTITIES[n].kind != ACCUMULATION):
        if QUANTITIES[name].kind != ACCUMULATION or evidence.growth is not None:
            continue
        acc = ds[name]
        times = acc["time"].values
        if times.size:
            # The D 00 UTC sample closes the previous day in both products: skip it.
            day_start = times.min().astype("datetime64[D]")
            acc = acc.isel(time=np.flatnonzero(times > day_start))
        counter = GrowthCounter()
        for i in range(acc.sizes.get("time", 0)):
            counter.add(acc.values[i])
        evidence.growth = counter.hint()
    for name in names:
        if ds[name].sizes.get("time", 0):
            evidence.nan_share[name] = nan_share(ds[name].isel(time=0).values)
    return evidence.decide()

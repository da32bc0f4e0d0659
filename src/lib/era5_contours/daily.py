"""Daily fields from hourly samples, with each product's accumulation rule.

- 2 m temperature: mean of the hourly values at 00..23 UTC of day D, in degC.
- ERA5 total precipitation: each value is the hour ending at ``valid_time``, so the total
  of day D is the sum over ``valid_time`` in (D 00:00, D+1 00:00].
- ERA5-Land total precipitation: accumulated since 00 UTC, so the total of day D is the
  value at D+1 00:00 UTC (summing the hourly values would overcount many times).

A day without every sample its rule needs raises :class:`IncompleteDayError` with the
count, unless the caller accepts fewer (``min_samples``); the field then says
``complete = False`` and how many samples it rests on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import xarray as xr

from .datasets import ERA5, ERA5_LAND
from .reading import InputError

HOURS_PER_DAY = 24
KELVIN_OFFSET = 273.15

VARIABLES = ("t2m", "tp")


class IncompleteDayError(InputError):
    """The day lacks samples its rule needs."""

    def __init__(self, message: str, *, day: date, variable: str, samples: int, required: int):
        self.samples = samples
        self.required = required
        super().__init__(message, day=day, variable=variable)


@dataclass(frozen=True)
class DailyField:
    """A daily field and how it was made.

    ``data`` is 2-D ``(latitude, longitude)`` with CF attributes; ``samples`` counts the
    hourly samples the rule found in its window and ``required`` how many it needs.
    """

    variable: str
    day: date
    dataset: str
    data: xr.DataArray
    samples: int
    required: int

    @property
    def complete(self) -> bool:
        return self.samples >= self.required

    @property
    def units(self) -> str:
        return str(self.data.attrs["units"])


def _select(arr: xr.DataArray, start: datetime, end: datetime, *, closed: str) -> xr.DataArray:
    """Samples in [start, end] ("both") or (start, end] ("right") with any finite value."""
    t = arr["time"].values
    lo = np.datetime64(start, "ns")
    hi = np.datetime64(end, "ns")
    mask = ((t >= lo) if closed == "both" else (t > lo)) & (t <= hi)
    sub = arr.isel(time=np.flatnonzero(mask))
    if sub.sizes["time"]:
        # A time step that is NaN everywhere is a missing sample (e.g. the tail of ERA5T).
        has_data = np.isfinite(sub.values).reshape(sub.sizes["time"], -1).any(axis=1)
        sub = sub.isel(time=np.flatnonzero(has_data))
    return sub


def _check(
    variable: str, day: date, samples: int, required: int, min_samples: int | None, rule: str
) -> None:
    if samples >= required:
        return
    floor = required if min_samples is None else max(1, min_samples)
    if samples < floor:
        accepted = "" if min_samples is None else f" (accepting {floor})"
        raise IncompleteDayError(
            f"incomplete day: {samples} of {required} hourly samples {rule}{accepted}",
            day=day,
            variable=variable,
            samples=samples,
            required=required,
        )


def _finish(
    data: xr.DataArray,
    *,
    variable: str,
    day: date,
    dataset: str,
    samples: int,
    required: int,
    attrs: dict,
) -> DailyField:
    data = data.astype(np.float64)
    data = data.assign_coords(day=np.datetime64(day, "D"))
    data.name = variable
    data.attrs = {
        **attrs,
        "dataset": dataset,
        "samples": samples,
        "samples_required": required,
        "complete": samples >= required,
    }
    if samples < required:
        data.attrs["comment"] = f"incomplete day: computed from {samples} of {required} samples"
    return DailyField(variable, day, dataset, data, samples, required)


def daily_mean_t2m(
    ds: xr.Dataset, day: date, dataset: str = ERA5, *, min_samples: int | None = None
) -> DailyField:
    """Daily mean 2 m temperature (degC) from the hourly values at 00..23 UTC of ``day``.

    Cells missing in any sample (ERA5-Land's sea) stay NaN rather than being averaged
    over fewer hours.
    """
    if "t2m" not in ds:
        raise InputError("variable missing from the input", day=day, variable="t2m")
    start = datetime(day.year, day.month, day.day)
    sub = _select(ds["t2m"], start, start + timedelta(hours=23), closed="both")
    samples = int(sub.sizes["time"])
    _check("t2m", day, samples, HOURS_PER_DAY, min_samples, "at 00..23 UTC")
    units = str(ds["t2m"].attrs.get("units", "K"))
    mean = sub.mean("time", skipna=False)
    if units == "K":
        mean = mean - KELVIN_OFFSET
    elif units not in ("degC", "C", "celsius"):
        raise InputError(f"unexpected units {units!r}", day=day, variable="t2m")
    return _finish(
        mean,
        variable="t2m",
        day=day,
        dataset=dataset,
        samples=samples,
        required=HOURS_PER_DAY,
        attrs={
            "units": "degC",
            "standard_name": "air_temperature",
            "long_name": "2 m temperature, daily mean",
            "cell_methods": "time: mean (interval: 1 hour)",
        },
    )


def daily_total_tp(
    ds: xr.Dataset, day: date, dataset: str, *, min_samples: int | None = None
) -> DailyField:
    """Daily total precipitation (mm) with the accumulation rule of ``dataset``.

    Parameters
    ----------
    ds
        Normalised samples covering (D 00 UTC, D+1 00 UTC].
    dataset
        ``"era5"`` (hourly accumulations: sum) or ``"era5-land"`` (accumulated since
        00 UTC: the D+1 00 UTC value).
    min_samples
        Accept a day with at least this many hourly samples in (D 00, D+1 00]. For
        ERA5-Land the total is then the last accumulation available (a partial total).
    """
    if "tp" not in ds:
        raise InputError("variable missing from the input", day=day, variable="tp")
    units = str(ds["tp"].attrs.get("units", "m"))
    if units not in ("m", "metres", "meters"):
        raise InputError(f"unexpected units {units!r}", day=day, variable="tp")
    start = datetime(day.year, day.month, day.day)
    end = start + timedelta(days=1)
    sub = _select(ds["tp"], start, end, closed="right")
    samples = int(sub.sizes["time"])
    if dataset == ERA5:
        _check("tp", day, samples, HOURS_PER_DAY, min_samples, "in (00 UTC, D+1 00 UTC]")
        total = sub.sum("time", skipna=False)
        method = "time: sum (interval: 1 hour)"
    elif dataset == ERA5_LAND:
        has_end = bool(sub.sizes["time"]) and sub["time"].values[-1] == np.datetime64(end, "ns")
        if not has_end:
            # The rule needs only D+1 00 UTC; report how far the day got.
            _check("tp", day, samples, HOURS_PER_DAY, min_samples, "(D+1 00 UTC value missing)")
        else:
            samples = HOURS_PER_DAY
        total = sub.isel(time=-1)
        method = "time: sum (accumulated since 00 UTC, value at D+1 00 UTC)"
    else:
        raise ValueError(f"unknown dataset {dataset!r}")
    return _finish(
        total.drop_vars("time", errors="ignore") * 1000.0,
        variable="tp",
        day=day,
        dataset=dataset,
        samples=samples,
        required=HOURS_PER_DAY,
        attrs={
            "units": "mm",
            "standard_name": "lwe_thickness_of_precipitation_amount",
            "long_name": "total precipitation, daily total",
            "cell_methods": method,
        },
    )


def daily_field(
    ds: xr.Dataset, variable: str, day: date, dataset: str, *, min_samples: int | None = None
) -> DailyField:
    """Dispatch to the daily rule of ``variable``."""
    if variable == "t2m":
        return daily_mean_t2m(ds, day, dataset, min_samples=min_samples)
    if variable == "tp":
        return daily_total_tp(ds, day, dataset, min_samples=min_samples)
    raise ValueError(f"unknown variable {variable!r}: use one of {', '.join(VARIABLES)}")

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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import xarray as xr

from .datasets import ERA5, ERA5_LAND
from .errors import IncompleteDayError, InputError
from .units import to_canonical
from .variables import NAMES, get, in_window, sample_window

HOURS_PER_DAY = 24
KELVIN_OFFSET = 273.15

VARIABLES = NAMES


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
        """Whether the rule found every sample it needs."""
        return self.samples >= self.required

    @property
    def units(self) -> str:
        """Units of the daily values."""
        return str(self.data.attrs["units"])


def _select(arr: xr.DataArray, variable: str, day: date) -> xr.DataArray:
    """The samples of the rule's window with any finite value."""
    sub: xr.DataArray = arr.isel(  # Self reads as Any: see pyproject
        time=np.flatnonzero(in_window(arr["time"].values, *sample_window(variable, day)))
    )
    if sub.sizes["time"]:
        # A time step that is NaN everywhere is a missing sample (e.g. the tail of ERA5T).
        has_data = np.isfinite(sub.values).reshape(sub.sizes["time"], -1).any(axis=1)
        sub = sub.isel(time=np.flatnonzero(has_data))
    return sub


def check_physical(data: xr.DataArray, variable: str, day: date, files: Sequence[str] = ()) -> None:
    """Refuse a daily field (canonical units) outside its variable's physical range.

    Raises
    ------
    InputError
        Naming the offending value, where it is, the day and the files it came from.
    """
    low, high = get(variable).physical_range
    values = np.asarray(data.values, dtype=float)
    valid = np.isfinite(values)
    if not valid.any():
        return
    unit = get(variable).units
    lowest, highest = np.nanargmin(values), np.nanargmax(values)
    for name, index, outside in (
        ("lowest", lowest, float(values.flat[lowest]) < low),
        ("highest", highest, float(values.flat[highest]) > high),
    ):
        value = float(values.flat[index])
        if outside:
            i, j = np.unravel_index(index, values.shape)
            where = (
                f"lat {float(data['latitude'].values[i]):g}, "
                f"lon {float(data['longitude'].values[j]):g}"
            )
            raise InputError(
                f"daily {variable} {value:g} {unit} ({name} value, at {where}) is outside the "
                f"physical range {low:g}..{high:g} {unit}: wrong units or corrupt values "
                f"(files: {', '.join(files) or 'unknown'})",
                day=day,
                variable=variable,
            )


def _canonical(ds: xr.Dataset, variable: str, day: date) -> xr.DataArray:
    if variable not in ds:
        raise InputError("variable missing from the input", day=day, variable=variable)
    # Normally converted per file on reading already; a no-op then.
    return to_canonical(ds[variable], variable, day=day)


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
    attrs: dict[str, Any],
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
    arr = _canonical(ds, "t2m", day)
    sub = _select(arr, "t2m", day)
    samples = int(sub.sizes["time"])
    _check("t2m", day, samples, HOURS_PER_DAY, min_samples, "at 00..23 UTC")
    mean = sub.mean("time", skipna=False)
    check_physical(mean, "t2m", day, ds.attrs.get("source_files", ()))
    mean = mean - KELVIN_OFFSET
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
    arr = _canonical(ds, "tp", day)
    end = sample_window("tp", day)[1]
    sub = _select(arr, "tp", day)
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
    total = total.drop_vars("time", errors="ignore")
    check_physical(total, "tp", day, ds.attrs.get("source_files", ()))
    return _finish(
        total * 1000.0,
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
    rules = {"t2m": daily_mean_t2m, "tp": daily_total_tp}
    return rules[get(variable).name](ds, day, dataset, min_samples=min_samples)

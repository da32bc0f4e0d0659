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

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import xarray as xr
from era5_common.errors import IncompleteDayError, InputError

from era5_contours.inputs.datasets import (
    ERA5,
    ERA5_LAND,
    SAMPLE_ATTR,
    Detection,
    Evidence,
    GrowthCounter,
    grid_spacing,
    metadata_hint,
    nan_share,
)
from era5_contours.inputs.reading import HOURS_PER_READ, DaySamples, NamedSource, day_samples
from era5_contours.inputs.units import to_canonical
from era5_contours.variables import NAMES, get, in_window, sample_window

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
    data = data.astype(np.float64, copy=False)
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


_T2M_ATTRS = {
    "units": "degC",
    "standard_name": "air_temperature",
    "long_name": "2 m temperature, daily mean",
    "cell_methods": "time: mean (interval: 1 hour)",
}
_TP_ATTRS = {
    "units": "mm",
    "standard_name": "lwe_thickness_of_precipitation_amount",
    "long_name": "total precipitation, daily total",
}


class DailyAccumulator:
    """The daily rules, fed one hourly sample at a time.

    Holds what the rules need and no more: for t2m a running sum, for tp the running
    sum (ERA5) and the latest accumulation (ERA5-Land), and while the product is not
    known the evidence that tells them apart (:class:`~era5_contours.inputs.datasets.Evidence`).
    Sums are kept in float64 whatever the files store.

    Parameters
    ----------
    variable, day
        What the samples are of; only samples in the rule's window
        (:func:`~era5_contours.variables.sample_window`) are accepted.
    latitude, longitude
        The grid (ascending), for the field's coordinates.
    dataset
        ``"era5"``, ``"era5-land"``, or ``"auto"`` while the product is not known
        (tp then keeps both rules' accumulators and the growth test).
    attrs
        The variable's attributes in its files (product names for detection).
    source_files
        Files the samples come from, named in errors.
    """

    def __init__(
        self,
        variable: str,
        day: date,
        *,
        latitude: np.ndarray,
        longitude: np.ndarray,
        dataset: str = "auto",
        attrs: Mapping[str, Any] | None = None,
        source_files: Sequence[str] = (),
    ) -> None:
        self.variable = get(variable).name
        self.day = day
        self.latitude = np.asarray(latitude)
        self.longitude = np.asarray(longitude)
        self.dataset = dataset
        self.source_files = list(source_files)
        self.samples = 0
        self.last_time: np.datetime64 | None = None
        start, end, closed = sample_window(self.variable, day)
        self._window = (start, end, closed)
        self._end = np.datetime64(end, "ns")
        self._sum: np.ndarray | None = None
        self._last: np.ndarray | None = None
        self._keep_sum = self.variable == "t2m" or dataset in ("auto", ERA5)
        self._keep_last = self.variable == "tp" and dataset in ("auto", ERA5_LAND)
        self._growth = GrowthCounter() if self.variable == "tp" and dataset == "auto" else None
        self.evidence = Evidence(
            metadata=metadata_hint([attrs or {}]), spacing=grid_spacing(self.latitude)
        )
        #: The synthetic sample's mark, when the files carry it (the field keeps it).
        self.sample: str | None = (attrs or {}).get(SAMPLE_ATTR)

    def add(self, time: np.datetime64, values: np.ndarray) -> None:
        """The next sample (canonical units: K or m) at ``time``, in time order.

        Samples outside the rule's window and samples NaN everywhere (missing hours)
        are ignored, as the rules ignore them.
        """
        times = np.array([time], dtype="datetime64[ns]")
        t = times[0]
        if not in_window(times, *self._window)[0]:
            return
        if self.last_time is not None and t <= self.last_time:
            raise ValueError(f"samples must come in time order: {t} after {self.last_time}")
        values = np.asarray(values)
        if values.shape != (self.latitude.size, self.longitude.size):
            raise ValueError(f"sample of shape {values.shape} on a grid of {self._shape_text()}")
        if not np.isfinite(values).any():
            return
        if self.samples == 0:
            self.evidence.nan_share[self.variable] = nan_share(values)
        if self._keep_sum:
            if self._sum is None:
                self._sum = values.astype(np.float64)
            else:
                # NaN propagates: a cell missing in any hour stays NaN (skipna=False).
                self._sum += values
        if self._keep_last:
            self._last = values
        if self._growth is not None:
            self._growth.add(values)
        self.samples += 1
        self.last_time = t

    def _shape_text(self) -> str:
        return f"{self.latitude.size}x{self.longitude.size}"

    def detect(self, override: str | None = None) -> Detection:
        """ERA5 or ERA5-Land from what the samples showed (``override`` wins)."""
        if self._growth is not None:
            self.evidence.growth = self._growth.hint()
        return self.evidence.decide(override)

    def _array(self, values: np.ndarray) -> xr.DataArray:
        return xr.DataArray(
            values,
            dims=("latitude", "longitude"),
            coords={"latitude": self.latitude, "longitude": self.longitude},
        )

    def field(self, dataset: str | None = None, *, min_samples: int | None = None) -> DailyField:
        """The daily field with the rule of ``dataset`` (default: the one given at start).

        Raises
        ------
        IncompleteDayError
            When the rule lacks samples (fewer than ``min_samples`` when given).
        InputError
            When the field is outside the variable's physical range.
        """
        dataset = self.dataset if dataset is None else dataset
        if self.variable == "t2m":
            made = self._t2m(dataset, min_samples)
        else:
            made = self._tp(dataset, min_samples)
        if self.sample:
            made.data.attrs[SAMPLE_ATTR] = str(self.sample)
        return made

    def _t2m(self, dataset: str, min_samples: int | None) -> DailyField:
        day, samples = self.day, self.samples
        _check("t2m", day, samples, HOURS_PER_DAY, min_samples, "at 00..23 UTC")
        assert self._sum is not None
        mean = self._array(self._sum / samples)
        check_physical(mean, "t2m", day, self.source_files)
        mean -= KELVIN_OFFSET
        return _finish(
            mean,
            variable="t2m",
            day=day,
            dataset=dataset if dataset != "auto" else self.detect().dataset,
            samples=samples,
            required=HOURS_PER_DAY,
            attrs=_T2M_ATTRS,
        )

    def _tp(self, dataset: str, min_samples: int | None) -> DailyField:
        day, samples = self.day, self.samples
        if dataset == "auto":
            dataset = self.detect().dataset
        if dataset == ERA5:
            if not self._keep_sum:
                raise ValueError("the ERA5 rule needs the sum: accumulate with dataset era5/auto")
            _check("tp", day, samples, HOURS_PER_DAY, min_samples, "in (00 UTC, D+1 00 UTC]")
            total = self._sum
            method = "time: sum (interval: 1 hour)"
        elif dataset == ERA5_LAND:
            if not self._keep_last:
                raise ValueError("the ERA5-Land rule needs the last sample: use era5-land/auto")
            if self.last_time != self._end:
                # The rule needs only D+1 00 UTC; report how far the day got.
                _check("tp", day, samples, HOURS_PER_DAY, min_samples, "(D+1 00 UTC value missing)")
            else:
                samples = HOURS_PER_DAY
            total = self._last
            method = "time: sum (accumulated since 00 UTC, value at D+1 00 UTC)"
        else:
            raise ValueError(f"unknown dataset {dataset!r}")
        assert total is not None
        data = self._array(total)
        check_physical(data, "tp", day, self.source_files)
        return _finish(
            data * 1000.0,
            variable="tp",
            day=day,
            dataset=dataset,
            samples=samples,
            required=HOURS_PER_DAY,
            attrs={**_TP_ATTRS, "cell_methods": method},
        )


def accumulate(samples: DaySamples, *, dataset: str = "auto") -> DailyAccumulator:
    """Feed a day's streamed samples to the daily rules (reads them, a few hours at a time).

    Parameters
    ----------
    samples
        From :func:`~era5_contours.inputs.reading.day_samples`; closed when done.
    dataset
        ``"era5"``, ``"era5-land"`` or ``"auto"`` (keep what both rules and the product
        detection need).
    """
    if samples.day is None:
        raise ValueError("read_daily needs the samples of one day (day_samples(..., day=...))")
    with samples:
        acc = DailyAccumulator(
            samples.variable,
            samples.day,
            latitude=samples.latitude,
            longitude=samples.longitude,
            dataset=dataset,
            attrs=samples.attrs,
            source_files=samples.source_files,
        )
        for sample in samples:
            acc.add(sample.time, sample.values)
    return acc


def read_daily(
    sources: Sequence[NamedSource | str | os.PathLike[str] | bytes],
    day: date,
    variable: str,
    *,
    dataset: str = "auto",
    assume_units: Mapping[str, str] | None = None,
    hours_per_read: int = HOURS_PER_READ,
) -> DailyAccumulator:
    """Stream the samples of ``variable``'s rule for ``day`` from ``sources`` into the rules.

    Memory holds the rule's accumulators and ``hours_per_read`` hourly fields, never the
    day's 24 or 25. Then ``acc.detect(...)`` tells the product and
    ``acc.field(dataset, min_samples=...)`` gives the :class:`DailyField`;
    ``acc.source_files`` names the files read.

    Raises
    ------
    InputError
        As :func:`~era5_contours.inputs.reading.load_day`: unreadable files, units, grids,
        conflicting duplicates, no file holding the variable.
    """
    samples = day_samples(
        sources, day, variable, assume_units=assume_units, hours_per_read=hours_per_read
    )
    return accumulate(samples, dataset=dataset)


def _from_dataset(ds: xr.Dataset, variable: str, day: date, dataset: str) -> DailyAccumulator:
    """An accumulator fed with the samples of an in-memory Dataset (``load_day``'s)."""
    arr = _canonical(ds, variable, day)
    acc = DailyAccumulator(
        variable,
        day,
        latitude=arr["latitude"].values,
        longitude=arr["longitude"].values,
        dataset=dataset,
        attrs=dict(arr.attrs),
        source_files=ds.attrs.get("source_files", ()),
    )
    times = arr["time"].values
    index = np.flatnonzero(in_window(times, *sample_window(variable, day)))
    for i in index[np.argsort(times[index], kind="stable")]:
        acc.add(times[i], arr.values[i])
    return acc


def daily_mean_t2m(
    ds: xr.Dataset, day: date, dataset: str = ERA5, *, min_samples: int | None = None
) -> DailyField:
    """Daily mean 2 m temperature (degC) from the hourly values at 00..23 UTC of ``day``.

    Cells missing in any sample (ERA5-Land's sea) stay NaN rather than being averaged
    over fewer hours.
    """
    return _from_dataset(ds, "t2m", day, dataset).field(dataset, min_samples=min_samples)


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
    if dataset not in (ERA5, ERA5_LAND):
        raise ValueError(f"unknown dataset {dataset!r}")
    return _from_dataset(ds, "tp", day, dataset).field(dataset, min_samples=min_samples)


def daily_field(
    ds: xr.Dataset, variable: str, day: date, dataset: str, *, min_samples: int | None = None
) -> DailyField:
    """Dispatch to the daily rule of ``variable``."""
    rules = {"t2m": daily_mean_t2m, "tp": daily_total_tp}
    return rules[get(variable).name](ds, day, dataset, min_samples=min_samples)

"""Daily fields from hourly samples, with each variable's statistic from the registry.

A variable (:mod:`era5_common.variables`) is made from one or more quantities by a recipe
(one hourly value per hour: the quantity itself, the sum of two accumulations, the speed
of two wind components) and reduced over day D by its statistic:

- ``mean``, ``minimum``, ``maximum``: of the 24 hourly values at 00..23 UTC of D; a cell
  missing in any hour stays NaN (ERA5-Land's sea);
- ``total`` of an accumulation: ERA5's hourly values ending in (D 00, D+1 00] summed;
  ERA5-Land's accumulation since 00 UTC taken at D+1 00 UTC (summing those would count
  each hour many times).

Values are converted to the output units of the variable (``degC``, ``mm``, ``hPa``) only
once the daily field is made and checked against its physical range. A day without every
sample its rule needs raises :class:`IncompleteDayError` with the count, unless the caller
accepts fewer (``min_samples``); the field then says ``complete = False``.

:func:`read_day` streams a day's samples into the rules of several variables at once: each
quantity's samples are read once, a few hours at a time, whatever variables use them, and
the quantities of one recipe (u10 and v10) are read side by side. Only the samples the
rules need are decoded (:func:`rule_times`): ERA5-Land's total, when the product is given
or named in the files, decodes its D+1 00 UTC sample alone, 1 of the window's 24.
"""

from __future__ import annotations

import heapq
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import xarray as xr

from era5_common.area import Area
from era5_common.errors import IncompleteDayError, InputError
from era5_common.variables import (
    MAXIMUM,
    MEAN,
    MINIMUM,
    SPEED,
    SUM,
    TOTAL,
    VALUE,
    Recipe,
    recipe_for,
    variable,
)
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
from era5_contours.inputs.netcdf import NamedSource, axes_text
from era5_contours.inputs.samples import HOURS_PER_READ, DaySamples
from era5_contours.inputs.units import CANONICAL, output_conversion, to_canonical
from era5_contours.inputs.windows import in_window, sample_window

logger = logging.getLogger(__name__)

HOURS_PER_DAY = 24
#: The daily field's attribute naming the ``--area`` it was cut to (maps' titles say it).
AREA_ATTR = "area"

#: One hourly value of a variable from its recipe's inputs (canonical units).
FORMULAS: dict[str, Callable[..., np.ndarray]] = {
    VALUE: lambda values: values,
    SUM: lambda *values: np.sum(values, axis=0),
    SPEED: np.hypot,
}

Source = NamedSource | str | os.PathLike[str] | bytes


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


def check_physical(data: xr.DataArray, name: str, day: date, files: Sequence[str] = ()) -> None:
    """Refuse a daily field (canonical units) outside its variable's physical range.

    Raises
    ------
    InputError
        Naming the offending value, where it is, the day and the files it came from.
    """
    spec = variable(name)
    low, high = spec.physical_range
    values = np.asarray(data.values, dtype=float)
    if not np.isfinite(values).any():
        return
    unit = CANONICAL[spec.recipes[0].inputs[0]]
    lowest, highest = np.nanargmin(values), np.nanargmax(values)
    for which, index, outside in (
        ("lowest", lowest, float(values.flat[lowest]) < low),
        ("highest", highest, float(values.flat[highest]) > high),
    ):
        if outside:
            value = float(values.flat[index])
            i, j = np.unravel_index(index, values.shape)
            where = (
                f"lat {float(data['latitude'].values[i]):g}, "
                f"lon {float(data['longitude'].values[j]):g}"
            )
            raise InputError(
                f"daily {name} {value:g} {unit} ({which} value, at {where}) is outside the "
                f"physical range {low:g}..{high:g} {unit}: wrong units or corrupt values "
                f"(files: {', '.join(files) or 'unknown'})",
                day=day,
                variable=name,
            )


def _check(
    name: str, day: date, samples: int, required: int, min_samples: int | None, rule: str
) -> None:
    if samples >= required:
        return
    floor = required if min_samples is None else max(1, min_samples)
    if samples < floor:
        accepted = "" if min_samples is None else f" (accepting {floor})"
        raise IncompleteDayError(
            f"incomplete day: {samples} of {required} hourly samples {rule}{accepted}",
            day=day,
            variable=name,
            samples=samples,
            required=required,
        )


class DailyAccumulator:
    """A variable's daily statistic, fed one hourly value at a time.

    Holds what the statistic needs and no more: a running sum (mean, ERA5 total), a running
    minimum or maximum, the latest accumulation (ERA5-Land total), and while the product is
    not known the evidence that tells ERA5 and ERA5-Land apart
    (:class:`~era5_contours.inputs.datasets.Evidence`). Kept in float64 whatever the files
    store.

    Parameters
    ----------
    name, day
        The variable and the day; only values in its inputs' window are accepted.
    latitude, longitude
        The grid (ascending), for the field's coordinates.
    dataset
        ``"era5"``, ``"era5-land"``, or ``"auto"`` while the product is not known (a total
        then keeps both rules' accumulators and the growth test).
    attrs
        The inputs' attributes in their files (product names for detection).
    source_files
        Files the values come from, named in errors.
    """

    def __init__(
        self,
        name: str,
        day: date,
        *,
        latitude: np.ndarray,
        longitude: np.ndarray,
        dataset: str = "auto",
        attrs: Mapping[str, Any] | None = None,
        source_files: Sequence[str] = (),
    ) -> None:
        self.spec = variable(name)
        self.variable = name
        self.day = day
        self.latitude = np.asarray(latitude)
        self.longitude = np.asarray(longitude)
        self.dataset = dataset
        self.source_files = list(source_files)
        self.samples = 0
        self.last_time: np.datetime64 | None = None
        start, end, closed = sample_window(self.spec.recipes[0].inputs[0], day)
        self._window = (start, end, closed)
        self._end = np.datetime64(end, "ns")
        statistic = self.spec.statistic
        self._value: np.ndarray | None = None  # the running sum, minimum or maximum
        self._last: np.ndarray | None = None
        self._keep_value = statistic != TOTAL or dataset in ("auto", ERA5)
        self._keep_last = statistic == TOTAL and dataset in ("auto", ERA5_LAND)
        self._growth = GrowthCounter() if statistic == TOTAL and dataset == "auto" else None
        self.evidence = Evidence(
            metadata=metadata_hint([attrs or {}]), spacing=grid_spacing(self.latitude)
        )
        #: The synthetic sample's mark, when the files carry it (the field keeps it).
        self.sample: str | None = (attrs or {}).get(SAMPLE_ATTR)
        #: The area the samples were cut to (``--area``), which the field names.
        self.area: Area | None = None

    def add(self, time: np.datetime64, values: np.ndarray) -> None:
        """The next hourly value (canonical units) at ``time``, in time order.

        Values outside the window and values NaN everywhere (missing hours) are ignored,
        as the rules ignore them.
        """
        t = np.array([time], dtype="datetime64[ns]")[0]
        if not in_window(np.array([t]), *self._window)[0]:
            return
        if self.last_time is not None and t <= self.last_time:
            raise ValueError(f"samples must come in time order: {t} after {self.last_time}")
        values = np.asarray(values)
        if values.shape != (self.latitude.size, self.longitude.size):
            raise ValueError(
                f"sample of shape {values.shape} on a grid of "
                f"{self.latitude.size}x{self.longitude.size}"
            )
        if not np.isfinite(values).any():
            return
        if self.samples == 0:
            self.evidence.nan_share[self.variable] = nan_share(values)
        if self._keep_value:
            self._reduce(values)
        if self._keep_last:
            self._last = values
        if self._growth is not None:
            self._growth.add(values)
        self.samples += 1
        self.last_time = t

    def _reduce(self, values: np.ndarray) -> None:
        if self._value is None:
            self._value = values.astype(np.float64)
        elif self.spec.statistic in (MEAN, TOTAL):
            # NaN propagates: a cell missing in any hour stays NaN (skipna=False).
            self._value += values
        elif self.spec.statistic == MINIMUM:
            np.minimum(self._value, values, out=self._value)
        elif self.spec.statistic == MAXIMUM:
            np.maximum(self._value, values, out=self._value)

    def detect(self, override: str | None = None) -> Detection:
        """ERA5 or ERA5-Land from what the samples showed (``override`` wins)."""
        if self._growth is not None:
            self.evidence.growth = self._growth.hint()
        return self.evidence.decide(override)

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
        if dataset == "auto":
            dataset = self.detect().dataset
        samples, values = self._daily(dataset, min_samples)
        data = xr.DataArray(
            values,
            dims=("latitude", "longitude"),
            coords={"latitude": self.latitude, "longitude": self.longitude},
        )
        check_physical(data, self.variable, self.day, self.source_files)
        scale, offset = output_conversion(self.variable)
        data = (data * scale + offset).astype(np.float64, copy=False)
        data = data.assign_coords(day=np.datetime64(self.day, "D"))
        data.name = self.variable
        data.attrs = self._attrs(dataset, samples)
        if self.sample:
            data.attrs[SAMPLE_ATTR] = str(self.sample)
        if self.area is not None:
            data.attrs[AREA_ATTR] = self.area.text()
        return DailyField(self.variable, self.day, dataset, data, samples, HOURS_PER_DAY)

    def _daily(self, dataset: str, min_samples: int | None) -> tuple[int, np.ndarray]:
        """The samples the rule rests on, and the daily values (canonical units)."""
        samples = self.samples
        window = "at 00..23 UTC" if self._window[2] == "left" else "in (00 UTC, D+1 00 UTC]"
        if self.spec.statistic != TOTAL or dataset == ERA5:
            if not self._keep_value:
                raise ValueError("the ERA5 rule needs the sum: accumulate with dataset era5/auto")
            _check(self.variable, self.day, samples, HOURS_PER_DAY, min_samples, window)
            assert self._value is not None
            return samples, self._value / samples if self.spec.statistic == MEAN else self._value
        if dataset != ERA5_LAND:
            raise ValueError(f"unknown dataset {dataset!r}")
        if not self._keep_last:
            raise ValueError("the ERA5-Land rule needs the last sample: use era5-land/auto")
        if self.last_time != self._end:
            # The rule needs only D+1 00 UTC; report how far the day got.
            _check(
                self.variable, self.day, samples, HOURS_PER_DAY, min_samples,
                "(D+1 00 UTC value missing)",
            )  # fmt: skip
        else:
            samples = HOURS_PER_DAY
        assert self._last is not None
        return samples, self._last

    def _attrs(self, dataset: str, samples: int) -> dict[str, Any]:
        spec = self.spec
        method = spec.cell_methods
        if spec.statistic == TOTAL and dataset == ERA5_LAND:
            method = "time: sum (accumulated since 00 UTC, value at D+1 00 UTC)"
        attrs: dict[str, Any] = {
            "units": spec.output_units,
            "long_name": spec.description,
            "cell_methods": method,
            "dataset": dataset,
            "samples": samples,
            "samples_required": HOURS_PER_DAY,
            "complete": samples >= HOURS_PER_DAY,
        }
        if spec.standard_name:
            attrs["standard_name"] = spec.standard_name
        if samples < HOURS_PER_DAY:
            attrs["comment"] = f"incomplete day: computed from {samples} of {HOURS_PER_DAY} samples"
        return attrs


# --------------------------------------------------------------------------- a day's reading


@dataclass
class DayRead:
    """One variable's day read into its rule, or why it could not be."""

    acc: DailyAccumulator | None
    error: InputError | None
    #: Files that hold its inputs in the window.
    files: tuple[str, ...]
    recipe: Recipe | None
    #: Its share of the reading time (a group's time split among its variables).
    seconds: float = 0.0
    #: Its share of the bytes of values decoded (split as the time is).
    decoded_bytes: int = 0


def _groups(recipes: Mapping[str, Recipe]) -> list[tuple[list[str], list[str]]]:
    """Variables joined by the quantities their recipes share: ``[(quantities, variables)]``.

    Each group's quantities are read side by side, once, whatever variables use them.
    """
    groups: list[tuple[set[str], list[str]]] = []
    for name, recipe in recipes.items():
        inputs = set(recipe.inputs)
        joined = [g for g in groups if g[0] & inputs]
        for g in joined:
            groups.remove(g)
            inputs |= g[0]
        groups.append((inputs, [v for g in joined for v in g[1]] + [name]))
    return [(sorted(q), names) for q, names in groups]


def _stream(
    samples: Mapping[str, DaySamples], only: np.ndarray | None = None
) -> Iterator[tuple[np.datetime64, dict[str, Any]]]:
    """The samples of several quantities in time order, each time once.

    Each time comes with every quantity's field it holds: a quantity missing at an hour
    is absent from it. ``only`` limits the times decoded.
    """
    merged = heapq.merge(
        *(_tagged(q, stream, only) for q, stream in samples.items()), key=lambda item: item[0]
    )
    current: np.datetime64 | None = None
    fields: dict[str, Any] = {}
    for when, q, values in merged:
        if current is not None and when != current:
            yield current, fields
            fields = {}
        current = when
        fields[q] = values
    if current is not None:
        yield current, fields


def _tagged(
    name: str, stream: DaySamples, only: np.ndarray | None
) -> Iterator[tuple[np.datetime64, str, np.ndarray]]:
    # A function, so that each stream keeps its own name (a nested generator expression
    # would see the last one).
    for sample in stream.read(only):
        yield sample.time, name, sample.values


def read_day(
    files: Mapping[str, Sequence[Source]],
    day: date,
    variables: Sequence[str],
    *,
    recipes: Mapping[str, Recipe] | None = None,
    dataset: str = "auto",
    assume_units: Mapping[str, str] | None = None,
    hours_per_read: int = HOURS_PER_READ,
    area: Area | None = None,
) -> dict[str, DayRead]:
    """Stream a day's samples into the rules of ``variables``; never raises for bad input.

    Parameters
    ----------
    files
        Per quantity, the files holding its samples in day D's window (the planner's).
    variables
        The variables to read.
    recipes
        The recipe of each variable (the planner's choice); by default the first whose
        quantities all have files.
    dataset
        ``"era5"``, ``"era5-land"`` or ``"auto"`` (keep what both products' rules and the
        product detection need).
    area
        Read only its cells (``--area``); their longitudes in its frame, west to east.

    Returns
    -------
    dict
        Per variable, its accumulator, or the error that concerns it: unreadable files,
        units, grids, conflicting duplicates, no file holding an input (named).
    """
    out: dict[str, DayRead] = {}
    chosen: dict[str, Recipe] = {}
    held = {q for q, fs in files.items() if fs}
    for name in variables:
        recipe = (recipes or {}).get(name) or recipe_for(name, held)
        inputs = recipe.inputs if recipe is not None else variable(name).quantities
        used = tuple(dict.fromkeys(_name(f) for q in inputs for f in files.get(q, ())))
        if recipe is None:
            out[name] = DayRead(None, _missing_input(name, held, day), used, None)
        else:
            chosen[name] = recipe
            out[name] = DayRead(None, None, used, recipe)
    for quantities, names in _groups(chosen):
        t0 = time.time()
        decoded: dict[str, int] = {}
        try:
            accs = _read_group(
                files, quantities, {n: chosen[n] for n in names}, day, dataset,
                _Reading(assume_units, hours_per_read, area), decoded,
            )  # fmt: skip
        except InputError as exc:
            accs = {}
            for n in names:
                out[n].error = exc
        for n in names:
            out[n].acc = accs.get(n)
            out[n].seconds = (time.time() - t0) / len(names)
            out[n].decoded_bytes = decoded.get("bytes", 0) // len(names)
    return out


def _name(source: Source) -> str:
    if isinstance(source, NamedSource):
        return source.name
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return os.fspath(source)


def _missing_input(name: str, held: set[str], day: date) -> InputError:
    """Why no recipe of ``name`` can be made: the inputs missing from the closest one."""
    recipes = variable(name).recipes
    # The closest: the most inputs there, then the fewest missing.
    best = min(
        recipes,
        key=lambda r: (-sum(q in held for q in r.inputs), sum(q not in held for q in r.inputs)),
    )
    missing = [q for q in best.inputs if q not in held]
    if len(best.inputs) == 1:
        text = f"no file holds {missing[0]}"
    else:
        text = f"{name} needs {' and '.join(best.inputs)}: no file holds {' or '.join(missing)}"
    others = [" and ".join(r.inputs) for r in recipes if r is not best]
    if others:
        text += f"; nor {' or '.join(others)}"
    return InputError(text, day=day, variable=name)


@dataclass(frozen=True)
class _Reading:
    """How a day's files are read: assumed units, hours per read, the area."""

    assume_units: Mapping[str, str] | None
    hours_per_read: int
    area: Area | None


def _read_group(
    files: Mapping[str, Sequence[Source]],
    quantities: Sequence[str],
    recipes: Mapping[str, Recipe],
    day: date,
    dataset: str,
    reading: _Reading,
    decoded: dict[str, int],
) -> dict[str, DailyAccumulator]:
    """The accumulators of a group's variables, fed from its quantities read side by side.

    ``decoded`` receives the bytes of values decoded (``"bytes"``).
    """
    streams: dict[str, DaySamples] = {}
    try:
        for q in quantities:
            streams[q] = DaySamples(
                files[q],
                q,
                sample_window(q, day),
                day=day,
                assume_units=reading.assume_units,
                hours_per_read=reading.hours_per_read,
                area=reading.area,
            )
        _same_grid(streams, recipes, day)
        metadata = [a for s in streams.values() for a in (s.file_attrs, s.attrs)]
        only = rule_times(recipes, day, dataset, metadata)
        accs = _feed(streams, recipes, day, dataset, reading.area, only)
        if only is not None and any(a.last_time != only[-1] for a in accs.values()):
            # The one sample the rule reads is missing: read the day as a whole, so that
            # the error (or the accepted partial day) says what a full read would.
            logger.debug("%s: %s missing, reading every hour", day, only[-1])
            accs = _feed(streams, recipes, day, dataset, reading.area, None)
        return accs
    finally:
        decoded["bytes"] = sum(s.decoded_bytes for s in streams.values())
        for stream in streams.values():
            stream.close()


def rule_times(
    recipes: Mapping[str, Recipe],
    day: date,
    dataset: str,
    attrs: Sequence[Mapping[str, Any]] = (),
) -> np.ndarray | None:
    """The only samples the rules of a group of variables need decoded, or None for all.

    The total of an accumulation in ERA5-Land is the value at D+1 00 UTC: accumulated
    since D 00 UTC, it covers every hour of the day, so that one sample is both the
    total and the proof that the day is complete, and no other sample adds to either.
    It applies when the product is known: given (``dataset``), or named in the inputs'
    metadata (``attrs``), the evidence :meth:`Evidence.decide` trusts first. An unknown
    product reads every hour, for the growth test that tells the products apart. Every
    other rule (means, extremes, ERA5's sums) needs every hour.
    """
    if not recipes or any(variable(n).statistic != TOTAL for n in recipes):
        return None
    known = dataset if dataset != "auto" else metadata_hint(attrs)
    if known != ERA5_LAND:
        return None
    _, end, _ = sample_window(next(iter(recipes.values())).inputs[0], day)
    return np.array([np.datetime64(end, "ns")])


def _feed(
    streams: Mapping[str, DaySamples],
    recipes: Mapping[str, Recipe],
    day: date,
    dataset: str,
    area: Area | None,
    only: np.ndarray | None,
) -> dict[str, DailyAccumulator]:
    """New accumulators of ``recipes`` fed the samples of ``streams`` (``only`` those)."""
    accs = {}
    for name, recipe in recipes.items():
        first = streams[recipe.inputs[0]]
        # The files' global attributes under the variables': both may name the product.
        attrs = {
            k: v
            for q in recipe.inputs
            for a in (streams[q].file_attrs, streams[q].attrs)
            for k, v in a.items()
        }
        sources = sorted({f for q in recipe.inputs for f in streams[q].source_files})
        accs[name] = DailyAccumulator(
            name,
            day,
            latitude=first.latitude,
            longitude=first.longitude,
            dataset=dataset,
            attrs=attrs,
            source_files=sources,
        )
        accs[name].area = area
    for when, fields in _stream(streams, only):
        for name, recipe in recipes.items():
            if all(q in fields for q in recipe.inputs):
                values = FORMULAS[recipe.formula](*(fields[q] for q in recipe.inputs))
                accs[name].add(when, values)
    return accs


def _same_grid(streams: Mapping[str, DaySamples], recipes: Mapping[str, Recipe], day: date) -> None:
    """Refuse the inputs of one recipe on different grids (u10 and v10, lsp and cp)."""
    for name, recipe in recipes.items():
        first = streams[recipe.inputs[0]]
        for q in recipe.inputs[1:]:
            other = streams[q]
            if not (
                np.array_equal(first.latitude, other.latitude)
                and np.array_equal(first.longitude, other.longitude)
            ):
                raise InputError(
                    f"{recipe.inputs[0]} and {q} are on different grids: "
                    f"{', '.join(first.source_files)} is "
                    f"{axes_text(first.latitude, first.longitude)}, "
                    f"{', '.join(other.source_files)} is "
                    f"{axes_text(other.latitude, other.longitude)}",
                    day=day,
                    variable=name,
                )


def read_daily(
    sources: Sequence[Source],
    day: date,
    name: str,
    *,
    dataset: str = "auto",
    assume_units: Mapping[str, str] | None = None,
    hours_per_read: int = HOURS_PER_READ,
    area: Area | None = None,
) -> DailyAccumulator:
    """Stream the samples of one variable's rule for ``day`` from ``sources`` into it.

    Every source is offered for every quantity of the variable (a file not holding one is
    skipped). Memory holds the rule's accumulators and ``hours_per_read`` hourly fields per
    input, never the day's 24 or 25. Then ``acc.detect(...)`` tells the product and
    ``acc.field(dataset, min_samples=...)`` gives the :class:`DailyField`.

    Raises
    ------
    InputError
        Unreadable files, units, grids, conflicting duplicates, no file holding an input.
    """
    read = read_variable(
        sources, day, name,
        dataset=dataset, assume_units=assume_units, hours_per_read=hours_per_read, area=area,
    )  # fmt: skip
    if read.error is not None:
        raise read.error
    assert read.acc is not None
    return read.acc


def read_variable(
    sources: Sequence[Source],
    day: date,
    name: str,
    *,
    dataset: str = "auto",
    assume_units: Mapping[str, str] | None = None,
    hours_per_read: int = HOURS_PER_READ,
    area: Area | None = None,
) -> DayRead:
    """:func:`read_daily`, with the error returned and what the reading cost.

    Raises
    ------
    InputError
        When no source can be opened to tell which quantities it holds.
    """
    held = _quantities_held(sources, variable(name).quantities, day)
    return read_day(
        {q: sources for q in held}, day, [name],
        dataset=dataset, assume_units=assume_units, hours_per_read=hours_per_read, area=area,
    )[name]  # fmt: skip


def _quantities_held(sources: Sequence[Source], quantities: Sequence[str], day: date) -> list[str]:
    """The quantities some source holds in day D's window (what a planner would have found)."""
    held = []
    for q in quantities:
        try:
            with DaySamples(sources, q, sample_window(q, day), day=day):
                held.append(q)
        except InputError as exc:
            if "no file holds" not in exc.message:
                raise
    return held


def daily_field(
    ds: xr.Dataset, name: str, day: date, dataset: str, *, min_samples: int | None = None
) -> DailyField:
    """The daily field of variable ``name`` from an in-memory Dataset of its quantities.

    ``ds`` is what :func:`~era5_contours.inputs.samples.load_day` gives (quantities in
    canonical units, each in its own window).

    Raises
    ------
    InputError
        When ``ds`` lacks the inputs of every recipe of the variable.
    IncompleteDayError, InputError
        As :meth:`DailyAccumulator.field`.
    """
    recipe = recipe_for(name, set(map(str, ds.data_vars)))
    if recipe is None:
        raise _missing_input(name, set(map(str, ds.data_vars)), day)
    # Normally converted per file on reading already: a no-op then.
    arrays = [to_canonical(ds[q], q, day=day) for q in recipe.inputs]
    acc = DailyAccumulator(
        name,
        day,
        latitude=arrays[0]["latitude"].values,
        longitude=arrays[0]["longitude"].values,
        dataset=dataset,
        attrs={k: v for a in arrays for k, v in a.attrs.items()},
        source_files=ds.attrs.get("source_files", ()),
    )
    times = arrays[0]["time"].values
    index = np.flatnonzero(in_window(times, *sample_window(recipe.inputs[0], day)))
    for i in index[np.argsort(times[index], kind="stable")]:
        fields = [np.asarray(a.values[i]) for a in arrays]
        if all(np.isfinite(f).any() for f in fields):
            acc.add(times[i], FORMULAS[recipe.formula](*fields))
    return acc.field(dataset, min_samples=min_samples)

"""What to ask the Climate Data Store for, month by month: pure functions, no IO.

A month of ERA5 / ERA5-Land becomes one or more :class:`Part` s, each one CDS request:
the month's days, every hour, the asked variables, over the asked area. A part whose
item count (variables x days x hours, how the CDS costs a request) exceeds the limit is
split by days, then by variables, then by hours, so that every request stays under it
and the parts together ask for each (variable, hour) of the month exactly once. The last
month of a range also gets the 00 UTC sample of the next day for the accumulated
variables (``tp``): a day's total needs the value at D+1 00 UTC (ERA5: the hour ending
then; ERA5-Land: the accumulation since D 00 UTC).

Every function here runs on Python 3.9 (AWS Glue Python shell).
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from era5_common.area import Area
from era5_common.products import ERA5, ERA5_LAND, normalise_name
from era5_common.variables import ACCUMULATION, QUANTITIES

#: Our dataset name -> CDS collection (process) id.
COLLECTIONS: dict[str, str] = {
    ERA5: "reanalysis-era5-single-levels",
    ERA5_LAND: "reanalysis-era5-land",
}
#: Quantity -> the CDS request's variable name (the files call them by the quantity's name).
CDS_VARIABLES: dict[str, str] = {q.name: q.cds for q in QUANTITIES.values()}
#: Accumulated quantities: a day's total needs the 00 UTC sample of the next day.
NEEDS_NEXT_DAY: tuple[str, ...] = tuple(
    q.name for q in QUANTITIES.values() if q.kind == ACCUMULATION
)


HOURS: tuple[str, ...] = tuple(f"{h:02d}:00" for h in range(24))
#: The item limit the CDS quotes for ERA5 requests ("... limit is 120000"); a refusal
#: naming another limit makes the request split again to that one.
DEFAULT_ITEM_LIMIT = 120_000


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12 and 1900 <= self.year <= 2200):
            raise ValueError(f"not a month: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """``"2020-07"`` -> ``Month(2020, 7)``."""
        match = re.fullmatch(r"\s*(\d{4})-(\d{1,2})\s*", str(text))
        if not match:
            raise ValueError(f"not a month (YYYY-MM): {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def days(self) -> int:
        """Number of days."""
        return calendar.monthrange(self.year, self.month)[1]

    @property
    def first_day(self) -> date:
        """Its first day."""
        return date(self.year, self.month, 1)

    @property
    def dates(self) -> tuple[date, ...]:
        """Every day of the month."""
        return tuple(date(self.year, self.month, d) for d in range(1, self.days + 1))

    def next(self) -> Month:
        """The following month."""
        return Month(self.year + self.month // 12, self.month % 12 + 1)


def months_between(first: Month, last: Month) -> list[Month]:
    """``first`` .. ``last`` inclusive."""
    if last < first:
        raise ValueError(f"end month {last} is before start month {first}")
    out = [first]
    while out[-1] < last:
        out.append(out[-1].next())
    return out


@dataclass(frozen=True)
class Part:
    """One CDS request: variables x days (all in one month) x hours."""

    label: str
    variables: tuple[str, ...]
    dates: tuple[date, ...]
    times: tuple[str, ...] = HOURS

    def __post_init__(self) -> None:
        if not self.variables or not self.dates or not self.times:
            raise ValueError(f"empty part {self.label!r}")
        if len({(d.year, d.month) for d in self.dates}) != 1:
            # year x month x day is a cartesian product in a CDS request.
            raise ValueError(f"part {self.label!r} spans several months")

    @property
    def items(self) -> int:
        """How many fields the request asks for (what the CDS limit counts)."""
        return len(self.variables) * len(self.dates) * len(self.times)

    def request(self, dataset: str, area: Area) -> dict[str, Any]:
        """The CDS request (inputs of the collection's process)."""
        first = self.dates[0]
        request: dict[str, Any] = {}
        if dataset == ERA5:
            request["product_type"] = ["reanalysis"]
        request.update(
            {
                "variable": [CDS_VARIABLES[v] for v in self.variables],
                "year": [f"{first.year:04d}"],
                "month": [f"{first.month:02d}"],
                "day": [f"{d.day:02d}" for d in self.dates],
                "time": list(self.times),
                "data_format": "netcdf",
                # Mixed instant and accumulated variables still come as a ZIP of one file
                # per stream; "unarchived" gives a plain NetCDF when there is one stream.
                "download_format": "unarchived",
                "area": area.as_list(),
            }
        )
        return request

    def hours(self) -> dict[str, list[datetime]]:
        """Valid times asked for, per variable."""
        stamps = [
            datetime(d.year, d.month, d.day, int(t[:2]), int(t[3:5]))
            for d in self.dates
            for t in self.times
        ]
        return {v: list(stamps) for v in self.variables}


@dataclass(frozen=True)
class MonthPlan:
    """The requests of one month, and what the month's files must then hold."""

    dataset: str
    month: Month
    variables: tuple[str, ...]
    area: Area
    next_day: bool
    parts: tuple[Part, ...] = field(default=())

    @property
    def collection(self) -> str:
        """The CDS collection id."""
        return COLLECTIONS[self.dataset]

    def spec(self) -> dict[str, Any]:
        """What the month is, independent of how it was split (the manifest's key)."""
        return {
            "dataset": self.dataset,
            "collection": self.collection,
            "month": str(self.month),
            "variables": list(self.variables),
            "area": self.area.as_list(),
            "next_day_sample": self.next_day and any(v in NEEDS_NEXT_DAY for v in self.variables),
        }

    def expected_hours(self) -> dict[str, list[datetime]]:
        """Every valid time the month's files must hold, per variable, sorted."""
        return merged_hours(self.parts)


def merged_hours(parts: Iterable[Part]) -> dict[str, list[datetime]]:
    """Union of the valid times of ``parts``, per variable, sorted."""
    hours: dict[str, set[datetime]] = {}
    for part in parts:
        for variable, stamps in part.hours().items():
            hours.setdefault(variable, set()).update(stamps)
    return {v: sorted(s) for v, s in sorted(hours.items())}


def _groups(values: Sequence[Any], size: int) -> list[tuple[Any, ...]]:
    """``values`` in consecutive groups of at most ``size``, as even as possible."""
    count = math.ceil(len(values) / size)
    base, extra = divmod(len(values), count)
    out, start = [], 0
    for i in range(count):
        end = start + base + (1 if i < extra else 0)
        out.append(tuple(values[start:end]))
        start = end
    return out


def _label(month_label: str, part: Part, variables: Sequence[str]) -> str:
    """``2020-07`` for a whole month, else the days, variables and hours it keeps."""
    first, last = part.dates[0], part.dates[-1]
    whole_month = first.day == 1 and last.day == calendar.monthrange(first.year, first.month)[1]
    label = month_label if whole_month else f"{month_label}_d{first.day:02d}-{last.day:02d}"
    if tuple(part.variables) != tuple(variables):
        label += "_" + "-".join(part.variables)
    if tuple(part.times) != HOURS:
        label += f"_h{part.times[0][:2]}-{part.times[-1][:2]}"
    return label


def split_part(part: Part, limit: int, month_variables: Sequence[str] | None = None) -> list[Part]:
    """``part`` as parts of at most ``limit`` items, covering exactly the same fields.

    Days are split first (consecutive runs of days), then variables, then hours, so that
    a request keeps as many variables and hours together as the limit allows. Labels
    name what a piece keeps of the month (``month_variables``: all the month's variables,
    by default the part's).

    Raises
    ------
    ValueError
        For a limit below 1 (one field per request is the smallest there is).
    """
    if limit < 1:
        raise ValueError(f"item limit must be at least 1, got {limit}")
    if part.items <= limit:
        return [part]
    month_variables = tuple(month_variables or part.variables)
    for name in ("dates", "variables", "times"):
        values = getattr(part, name)
        if len(values) == 1:
            continue
        per_value = part.items // len(values)
        size = max(1, limit // per_value)
        out = []
        for group in _groups(values, size):
            change: dict[str, Any] = {name: group}
            piece = _relabel(replace(part, **change), month_variables)
            out.extend(split_part(piece, limit, month_variables))
        return out
    raise AssertionError("a single field is never above a limit of 1")  # pragma: no cover


def _relabel(part: Part, month_variables: Sequence[str]) -> Part:
    return replace(part, label=_label(part.label.split("_")[0], part, month_variables))


def halve(part: Part, month_variables: Sequence[str] | None = None) -> list[Part]:
    """Two parts of about half the fields each (the CDS refused ``part`` as too large).

    The days are halved, else the variables, else the hours.

    Raises
    ------
    ValueError
        When the part is a single field and cannot be split.
    """
    month_variables = tuple(month_variables or part.variables)
    for name in ("dates", "variables", "times"):
        values = getattr(part, name)
        if len(values) > 1:
            changes: list[dict[str, Any]] = [
                {name: group} for group in _groups(values, math.ceil(len(values) / 2))
            ]
            return [_relabel(replace(part, **change), month_variables) for change in changes]
    raise ValueError(f"request {part.label} asks for one field and cannot be split")


def plan_month(
    dataset: str,
    month: Month,
    variables: Sequence[str],
    area: Area,
    *,
    next_day: bool,
    limit: int = DEFAULT_ITEM_LIMIT,
) -> MonthPlan:
    """The parts of one month.

    Parameters
    ----------
    dataset
        ``era5`` or ``era5-land``.
    month
        The month.
    variables
        The quantities to fetch (``t2m``, ``tp``, ``u10``...: :func:`quantities_for`).
    area
        The area.
    next_day
        Also fetch the 00 UTC sample of the first day of the next month for the
        accumulated variables (the last month of a range).
    limit
        Item limit per request.
    """
    dataset = normalise_name(dataset)
    variables = tuple(dict.fromkeys(variables))
    unknown = [v for v in variables if v not in CDS_VARIABLES]
    if not variables or unknown:
        raise ValueError(f"variables must be among {', '.join(CDS_VARIABLES)}, got {variables}")
    whole = Part(str(month), variables, month.dates)
    parts = split_part(whole, limit)
    accumulated = tuple(v for v in variables if v in NEEDS_NEXT_DAY)
    if next_day and accumulated:
        following = month.next().first_day
        parts.append(Part(f"{following.isoformat()}T00", accumulated, (following,), ("00:00",)))
    return MonthPlan(dataset, month, variables, area, next_day, tuple(parts))


TOO_LARGE = re.compile(r"too large|cost limits? exceeded", re.IGNORECASE)
_LIMIT_IS = re.compile(r"limit\s+is\s+([0-9][0-9,_ ]*)", re.IGNORECASE)


def refusal_limit(message: str) -> int | None:
    """The item limit a CDS "request too large" refusal names, if it names one."""
    match = _LIMIT_IS.search(message)
    if not match:
        return None
    digits = re.sub(r"[^0-9]", "", match.group(1))
    return int(digits) if digits else None


def next_day_hour(month: Month) -> datetime:
    """00 UTC of the first day of the month after ``month``."""
    following = month.next().first_day
    return datetime(following.year, following.month, following.day)


def hour_ranges(stamps: Sequence[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted hourly ``stamps`` as runs of consecutive hours ``(first, last)``."""
    runs: list[tuple[datetime, datetime]] = []
    for t in sorted(stamps):
        if runs and t - runs[-1][1] == timedelta(hours=1):
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs

"""The NSF NCAR copy of ERA5 on AWS Open Data (``s3://nsf-ncar-era5``): its file names.

The copy (NCAR's RDA dataset ds633.0, now GDEX d633000) keeps each variable in files
named by a scheme, so a run names the files its days need instead of listing the bucket
(millions of objects):

- analyses, one file a month: ``e5.oper.an.sfc/YYYYMM/e5.oper.an.sfc.128_167_2t.ll025sc.
  YYYYMM0100_YYYYMMDD23.nc`` (the last day of the month at 23 UTC);
- forecast accumulations, one file per half month, in the folder of the month it starts
  in: ``e5.oper.fc.sfc.accumu/YYYYMM/e5.oper.fc.sfc.accumu.128_142_lsp.ll025sc.
  YYYYMM0106_YYYYMM1606.nc`` (the runs from the 1st 06 UTC to the 15th 18 UTC) and
  ``...YYYYMM1606_<next month>0106.nc`` (the 16th 06 UTC to the month's last day 18 UTC):
  the name runs from the first run's start to its last value's valid time.

A day's accumulated total needs the hours ending in (D 00, D+1 00]: hours 7..12 of the
D-1 18 UTC run, 1..12 of D 06 UTC and 1..6 of D 18 UTC, which may lie in two files (the
16th, the 1st) and, on the 1st, in the previous month's folder. Which quantity is where
comes from the registry (:class:`era5_common.variables.Ncar`). The copy holds no total
precipitation: ``tp`` is made of its large-scale and convective parts (``LSP + CP``).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from era5_common import storage
from era5_common.variables import ACCUMULATION, QUANTITIES, Recipe, variable

#: The copy's bucket (us-west-2, public: read unsigned).
BUCKET = "nsf-ncar-era5"
#: The folders under the copy's root that tell its layout from a folder of files.
PRODUCTS = ("e5.oper.an.sfc", "e5.oper.fc.sfc.accumu")
#: Forecast runs start at these hours (UTC).
RUN_HOURS = (6, 18)


@dataclass(frozen=True)
class Expected:
    """A file of the copy a run needs: its path, and the days whose rules read it."""

    path: str
    quantity: str
    days: tuple[date, ...]


def is_copy(input_path: str) -> bool:
    """Whether ``input_path`` is the copy's root: its bucket, or a mirror of its layout."""
    if storage.is_s3(input_path):
        bucket, key = storage.split_s3(input_path)
        if bucket == BUCKET and not key.strip("/"):
            return True
    return any(storage.exists_folder(storage.join(input_path, p)) for p in PRODUCTS)


def recipe_for(name: str) -> Recipe | None:
    """The first recipe of a variable whose quantities the copy holds (tp: lsp + cp)."""
    for recipe in variable(name).recipes:
        if all(QUANTITIES[q].ncar is not None for q in recipe.inputs):
            return recipe
    return None


def analysis_name(parameter: str, month: date, product: str, grid: str) -> str:
    """The key of an analysis' monthly file (relative to the copy's root)."""
    last = calendar.monthrange(month.year, month.month)[1]
    ym = f"{month.year:04d}{month.month:02d}"
    return f"{product}/{ym}/{product}.{parameter}.{grid}.{ym}0100_{ym}{last:02d}23.nc"


def half_month_start(run: datetime) -> datetime:
    """The first run (06 UTC on the 1st or the 16th) of the file holding run ``run``."""
    return run.replace(day=1 if run.day < 16 else 16, hour=6)


def forecast_name(parameter: str, run: datetime, product: str, grid: str) -> str:
    """The key of the half-month file holding forecast run ``run``."""
    start = half_month_start(run)
    if start.day == 1:
        end = start.replace(day=16)
    else:
        end = (start.replace(day=1) + timedelta(days=32)).replace(day=1, hour=6)
    folder = f"{start.year:04d}{start.month:02d}"
    return f"{product}/{folder}/{product}.{parameter}.{grid}.{start:%Y%m%d%H}_{end:%Y%m%d%H}.nc"


def runs_of_day(day: date) -> list[datetime]:
    """The forecast runs holding the hours ending in (D 00, D+1 00]."""
    midnight = datetime(day.year, day.month, day.day)
    return [
        midnight - timedelta(hours=6),
        midnight + timedelta(hours=6),
        midnight + timedelta(hours=18),
    ]


def expected_files(
    root: str, days: Iterable[date], variables: Sequence[str]
) -> tuple[list[Expected], dict[str, str]]:
    """The copy's files the days of ``variables`` need, and the variables it cannot make.

    Returns
    -------
    tuple
        The files (each once, with every day that reads it), and per variable the copy
        holds nothing for, why.
    """
    unmade: dict[str, str] = {}
    quantities: list[str] = []
    for name in variables:
        recipe = recipe_for(name)
        if recipe is None:
            needs = " or ".join(" and ".join(r.inputs) for r in variable(name).recipes)
            unmade[name] = f"the NSF NCAR copy holds no {needs}"
        else:
            quantities.extend(q for q in recipe.inputs if q not in quantities)
    served: dict[tuple[str, str], list[date]] = {}
    for day in days:
        for q in quantities:
            for key in _keys(q, day):
                served.setdefault((key, q), []).append(day)
    files = [
        Expected(storage.join(root, key), q, tuple(sorted(set(d))))
        for (key, q), d in served.items()
    ]
    return files, unmade


def _keys(name: str, day: date) -> list[str]:
    spec = QUANTITIES[name]
    assert spec.ncar is not None
    where = spec.ncar
    if spec.kind == ACCUMULATION:
        names = [
            forecast_name(where.parameter, run, where.product, where.grid)
            for run in runs_of_day(day)
        ]
        return list(dict.fromkeys(names))
    return [analysis_name(where.parameter, day, where.product, where.grid)]

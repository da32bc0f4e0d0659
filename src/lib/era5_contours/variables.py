"""The variables the job knows, and everything particular to each, in one place.

A :class:`Variable` says what files call it, the unit its values are converted to on
reading, which hourly samples its daily rule reads (its window), the physical range of
its daily field, and its default contour levels and colour map. The rules themselves
(mean, sums, accumulations) are in :mod:`era5_contours.science.daily`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np


@dataclass(frozen=True)
class Variable:
    """One variable of the job."""

    name: str
    #: Names the CDS and its converters have used for it in files.
    aliases: tuple[str, ...]
    #: The unit values are converted to on reading (what the daily rules expect).
    units: str
    #: Which samples of day D the rule reads: ``"left"`` the instants in [D 00, D+1 00),
    #: ``"right"`` the accumulations ending in (D 00, D+1 00].
    closed: str
    #: Physically possible daily values, in :attr:`units`: a field outside them was read
    #: with the wrong units or is corrupt.
    physical_range: tuple[float, float]
    #: Contour levels as ``--{name}_levels`` takes them, and the colour map.
    default_levels: str
    default_cmap: str
    #: Order in which a day's variables are asked which dataset it is (lowest first).
    probe_rank: int
    description: str


T2M = Variable(
    name="t2m",
    aliases=("t2m", "2t", "VAR_2T"),
    units="K",
    closed="left",
    # The daily mean stays within 170..340 K (-103..67 degC) anywhere on Earth.
    physical_range=(170.0, 340.0),
    # 2 degC steps over -50..50 in the value-fixed "temperature" palette (the cells of
    # science/palettes.py): the same colour is the same temperature every day.
    default_levels="interval:2:0:-50:50",
    default_cmap="temperature",
    probe_rank=1,
    description="daily mean 2 m temperature",
)
TP = Variable(
    name="tp",
    aliases=("tp", "VAR_TP"),
    units="m",
    closed="right",
    # A daily total is at least 0 and at most 1 m; -1e-6 m (-0.001 mm) of slack absorbs
    # the packing noise of GRIB-derived accumulations.
    physical_range=(-1e-6, 1.0),
    default_levels="0.1,1,2,5,10,20,50,100",
    default_cmap="precipitation",
    # Its accumulation (hourly or since 00 UTC) tells ERA5 from ERA5-Land.
    probe_rank=0,
    description="daily total precipitation",
)

VARIABLES: dict[str, Variable] = {v.name: v for v in (T2M, TP)}
NAMES: tuple[str, ...] = tuple(VARIABLES)
#: File variable name -> our name.
ALIASES: dict[str, str] = {alias: v.name for v in VARIABLES.values() for alias in v.aliases}


def get(name: str) -> Variable:
    """The variable called ``name``.

    Raises
    ------
    ValueError
        For a name the job does not know.
    """
    try:
        return VARIABLES[name]
    except KeyError:
        raise ValueError(f"unknown variable {name!r}: use one of {', '.join(NAMES)}") from None


def sample_window(variable: str, day: date) -> tuple[datetime, datetime, str]:
    """The samples the daily rule of ``variable`` reads for ``day``: ``(start, end, closed)``.

    - t2m: the instants 00..23 UTC of D, ``[D 00, D+1 00)`` (``closed="left"``);
    - tp: the accumulations ending in ``(D 00, D+1 00]`` (``closed="right"``): the ERA5
      hour ending at D+1 00 UTC and the ERA5-Land total at D+1 00 UTC belong to D, and
      D 00 UTC belongs to D-1.

    The planner, the reader and the rules all use this window, so a sample that belongs
    only to another day never concerns this one.
    """
    start = datetime(day.year, day.month, day.day)
    return start, start + timedelta(days=1), get(variable).closed


def in_window(times: np.ndarray, start: datetime, end: datetime, closed: str) -> np.ndarray:
    """Boolean mask of ``times`` (datetime64) inside the window."""
    lo, hi = np.datetime64(start, "ns"), np.datetime64(end, "ns")
    times = times.astype("datetime64[ns]")
    above = times >= lo if closed in ("left", "both") else times > lo
    below = times <= hi if closed in ("right", "both") else times < hi
    return above & below


def window_overlaps(
    first: datetime, last: datetime, start: datetime, end: datetime, closed: str
) -> bool:
    """Whether a file holding times ``first..last`` may hold a sample of the window."""
    after_start = last >= start if closed in ("left", "both") else last > start
    before_end = first <= end if closed in ("right", "both") else first < end
    return after_start and before_end

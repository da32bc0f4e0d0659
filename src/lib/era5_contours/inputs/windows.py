"""Which hourly samples of a quantity day D's rules read: its window.

- an instant (2 m temperature, pressure, wind) is read at 00..23 UTC of D,
  ``[D 00, D+1 00)`` (``closed="left"``);
- an accumulation (precipitation) is read where its hour ends in ``(D 00, D+1 00]``
  (``closed="right"``): the ERA5 hour ending at D+1 00 UTC and the ERA5-Land total at
  D+1 00 UTC belong to D, and D 00 UTC belongs to D-1.

The planner, the readers and the rules all use this window, so a sample that belongs only
to another day never concerns this one.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np

from era5_common.variables import quantity

#: ``(start, end, closed)``, ``closed`` one of left, right, both.
Window = tuple[datetime, datetime, str]


def sample_window(name: str, day: date) -> Window:
    """The samples of quantity ``name`` day ``day``'s rules read: ``(start, end, closed)``."""
    start = datetime(day.year, day.month, day.day)
    return start, start + timedelta(days=1), quantity(name).closed


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

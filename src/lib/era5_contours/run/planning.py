"""Planning a run: which input files each day needs, from their time ranges.

The executors read each input's coordinates only (:func:`inspect_file`); the driver
assigns files to days by each quantity's sample window (:func:`plan_days`): a day's
precipitation needs D+1 00 UTC, which may be in the next month's file, and quantities may
come from separate files. Each variable takes the first of its recipes whose quantities
the day's files hold (wind speed from ``si10``, else from ``u10`` and ``v10``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

from era5_common.area import Area
from era5_common.variables import Recipe, variable
from era5_contours.inputs.netcdf import file_time_range, source_for
from era5_contours.inputs.windows import sample_window, window_overlaps

from .spark import steady_worker


@dataclass(frozen=True)
class FileInfo:
    """What the planner knows of an input file (from its coordinates only)."""

    path: str
    variables: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    error: str | None = None
    #: Whether the run's area (``--area``) holds any cell of the file's grid.
    in_area: bool = True
    #: The days that need this file, where the run knows it (the NSF NCAR copy's scheme);
    #: empty: any day may.
    serves: tuple[date, ...] = ()


class _Span(NamedTuple):
    """A readable file and the first and last of its times."""

    info: FileInfo
    first: datetime
    last: datetime


@dataclass(frozen=True)
class DayTask:
    """One day to process.

    Per quantity, the files whose times touch its window; per variable, the recipe it is
    made by, or the problem that stops it.
    """

    day: date
    files: dict[str, tuple[str, ...]]
    problems: dict[str, str] = field(default_factory=dict)
    recipes: dict[str, Recipe] = field(default_factory=dict)
    #: Inputs that could not be read at planning: they may hold samples this day lacks.
    unreadable: tuple[str, ...] = ()


def inspect_file(path: str, area: Area | None = None, serves: tuple[date, ...] = ()) -> FileInfo:
    """Read a file's variables, time range and grid (coordinates only); never raises.

    The caller has pointed the process's S3 clients where the run says
    (:meth:`JobConfig.use_storage`).
    """
    steady_worker()
    try:
        # An S3 input is read by range requests: its metadata and coordinates only.
        info = file_time_range(source_for(path))
    except Exception as exc:  # noqa: BLE001 - an unreadable input is reported by the days that need it
        return FileInfo(path=path, error=f"{type(exc).__name__}: {exc}", serves=serves)
    return FileInfo(
        path,
        tuple(info["variables"]),
        info["start"],
        info["end"],
        in_area=area is None or _holds(info["latitude"], info["longitude"], area),
        serves=serves,
    )


def _holds(lat: tuple[float, float], lon: tuple[float, float], area: Area) -> bool:
    """Whether a grid of this extent (longitudes in [-180, 180)) has a cell in ``area``."""
    if lat[1] < area.south or lat[0] > area.north:
        return False
    if lon[1] - lon[0] >= 359.0:
        return True
    # The extent's longitudes in the area's frame: inside where one is at most east.
    low, high = (float(area.longitudes(x)) for x in lon)
    return low <= area.east or high <= area.east or high < low


def plan_days(
    days: Sequence[date], variables: Sequence[str], infos: Iterable[FileInfo]
) -> list[DayTask]:
    """Assign files to (day, quantity), and a recipe to each (day, variable)."""
    infos = list(infos)
    # Each readable file with its first and last time (the inspector sets both or neither).
    readable = [
        _Span(i, i.start, i.end)
        for i in infos
        if i.error is None and i.start is not None and i.end is not None and i.in_area
    ]
    failed = [i for i in infos if i.error is not None]
    quantities = list(dict.fromkeys(q for v in variables for q in variable(v).quantities))
    tasks = []
    for day in days:
        files: dict[str, tuple[str, ...]] = {}
        missing: dict[str, str] = {}
        for q in quantities:
            start, end, closed = sample_window(q, day)
            holding = [s for s in readable if q in s.info.variables]
            files[q] = tuple(
                s.info.path for s in holding if window_overlaps(s.first, s.last, start, end, closed)
            )
            if not files[q]:
                missing[q] = _no_input_text(q, start, end, closed, holding)
        recipes: dict[str, Recipe] = {}
        problems: dict[str, str] = {}
        for v in variables:
            chosen = next(
                (r for r in variable(v).recipes if not set(r.inputs) & set(missing)), None
            )
            if chosen is not None:
                recipes[v] = chosen
            else:
                problems[v] = _no_recipe_text(v, missing)
        unreadable = tuple(
            f"{i.path} ({i.error})" for i in failed if not i.serves or day in i.serves
        )
        tasks.append(
            DayTask(day=day, files=files, problems=problems, recipes=recipes, unreadable=unreadable)
        )
    return tasks


def _no_recipe_text(name: str, missing: dict[str, str]) -> str:
    """Why no recipe of ``name`` can be made: the closest one's missing inputs."""
    recipes = variable(name).recipes
    # The closest: the most inputs there, then the fewest missing.
    best = min(
        recipes,
        key=lambda r: (
            -sum(q not in missing for q in r.inputs),
            sum(q in missing for q in r.inputs),
        ),
    )
    lacking = [q for q in best.inputs if q in missing]
    text = "; ".join(missing[q] for q in lacking)
    if len(best.inputs) > 1:
        text = f"{name} is made from {' and '.join(best.inputs)}: {text}"
    others = [r for r in recipes if r is not best]
    if others:
        text += "; nor from " + " or ".join(" and ".join(r.inputs) for r in others)
    return text


def _no_input_text(
    name: str, start: datetime, end: datetime, closed: str, holding: Sequence[_Span]
) -> str:
    left, right = ("[", ")") if closed == "left" else ("(", "]")
    text = (
        f"no readable input file holds {name} samples in {left}{start:%Y-%m-%d %H:%M}, "
        f"{end:%Y-%m-%d %H:%M}{right} UTC"
    )
    if holding:
        first = min(s.first for s in holding)
        last = max(s.last for s in holding)
        text += f" (the inputs hold {name} from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M})"
    else:
        text += f" (no readable input holds {name} at all)"
    return text


def unreadable_note(task: DayTask) -> str:
    """What to add to an error when some inputs could not be read at planning."""
    return "; unreadable inputs that may hold the missing samples: " + "; ".join(task.unreadable)

"""The table write, one (variable, month) partition at a time: copy-on-write of months.

The executors stage each (day, variable)'s feature rows (:mod:`~era5_contours.tables.rows`)
during the day's work. Once the run holds the commit lease, one task per (variable, month) it touched
rewrites that partition of both tables whole: the rows of the month's other days as the
tables hold them, plus this run's rows, written by pyiceberg's writer as one data file
per partition (rolled over at ``write.target-file-size-bytes``). The commit then replaces
every day of those months. A month thus stays one file however often its days are
rerun, and no task ever holds more than one partition's rows.

A (day, variable) that is not ok in this run, whose earlier result in ``daily_summary``
is ok, keeps that result (rows and maps): a rerun whose input has become unreadable must
not destroy a good result.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import And, BooleanExpression

from . import datafiles, filters
from .rows import read_rows
from .schema import CONTOUR_FEATURES, DAILY_SUMMARY, OK, TableDef

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.table.metadata import TableMetadata


def month_of(day: date) -> tuple[date, date]:
    """First and last day of the calendar month of ``day``."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def month_days(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class DayResult:
    """What the month rewrite needs of one (day, variable)'s outcome."""

    day: date
    status: str
    #: Staged feature rows (None: no features, e.g. not ok).
    rows: str | None
    #: The daily_summary row (column -> value).
    summary: dict[str, Any]


@dataclass(frozen=True)
class MonthTask:
    """One (variable, month) partition to rewrite, with this run's days in it."""

    variable: str
    first: date
    last: date
    days: tuple[DayResult, ...]


@dataclass(frozen=True)
class MonthContext:
    """The tables as the run holding the lease found them (pickled to the executors)."""

    features_metadata: TableMetadata
    features_io: FileIO
    summary_metadata: TableMetadata
    summary_io: FileIO
    attempt: str


@dataclass
class MonthResult:
    """The data files of one rewritten partition, and the days whose earlier result stays."""

    variable: str
    first: date
    features_files: list[DataFile] = field(default_factory=list)
    summary_files: list[DataFile] = field(default_factory=list)
    #: day -> run_id of the earlier ok result kept instead of this run's.
    kept: dict[date, str] = field(default_factory=dict)
    feature_rows: int = 0
    carried_rows: int = 0


def month_tasks(results: Iterable[tuple[str, DayResult]]) -> list[MonthTask]:
    """Group (variable, day result) pairs by (variable, month), in order."""
    groups: dict[tuple[str, date], list[DayResult]] = {}
    for variable, result in results:
        groups.setdefault((variable, month_of(result.day)[0]), []).append(result)
    return [
        MonthTask(variable, first, month_of(first)[1], tuple(sorted(days, key=lambda r: r.day)))
        for (variable, first), days in sorted(groups.items())
    ]


def replaced_pairs(tasks: Sequence[MonthTask]) -> list[tuple[date, str]]:
    """Every (day, variable) of the months rewritten: what the commit replaces."""
    return [(day, t.variable) for t in tasks for day in month_days(t.first, t.last)]


# --------------------------------------------------------------------------- the rewrite


def _partition_filter(task: MonthTask) -> BooleanExpression:
    return And(
        filters.equal_to("variable", task.variable),
        And(
            filters.at_least("day", task.first.isoformat()),
            filters.at_most("day", task.last.isoformat()),
        ),
    )


def _without_days(rows: pa.Table, days: set[date]) -> pa.Table:
    if not days or rows.num_rows == 0:
        return rows
    drop = pc.is_in(rows.column("day"), value_set=pa.array(sorted(days), pa.date32()))
    return rows.filter(pc.invert(drop))


def _merge(parts: Sequence[pa.Table], table: TableDef, metadata: TableMetadata) -> pa.Table:
    schema = metadata.schema()
    conformed = [datafiles.conform_table(p, table, schema) for p in parts if p.num_rows]
    if not conformed:
        return table.arrow_schema.empty_table()
    # Columns the table holds beyond ours (created by other DDL) are null in our rows.
    return pa.concat_tables(conformed, promote_options="default")


def merge_month(task: MonthTask, ctx: MonthContext) -> MonthResult:
    """Rewrite one (variable, month) partition of both tables as new data files.

    Runs on an executor; holds that partition's rows only. The data files are named by a
    write UUID of (attempt, table, variable, month), so a retried task overwrites them.
    """
    partition = _partition_filter(task)
    out = MonthResult(task.variable, task.first)

    base_summary = datafiles.scan_rows(ctx.summary_metadata, ctx.summary_io, partition)
    ok_before = {
        r["day"]: r["run_id"]
        for r in base_summary.select(["day", "status", "run_id"]).to_pylist()
        if r["status"] == OK
    }
    out.kept = {r.day: ok_before[r.day] for r in task.days if r.status != OK and r.day in ok_before}
    replaced = {r.day for r in task.days} - set(out.kept)

    new_summary = pa.Table.from_pylist(
        [r.summary for r in task.days if r.day in replaced], schema=DAILY_SUMMARY.arrow_schema
    )
    summary_rows = _merge(
        [_without_days(base_summary, replaced), new_summary], DAILY_SUMMARY, ctx.summary_metadata
    )

    base_features = _without_days(
        datafiles.scan_rows(ctx.features_metadata, ctx.features_io, partition), replaced
    )
    new_features = [read_rows(r.rows) for r in task.days if r.day in replaced and r.rows]
    out.feature_rows = sum(t.num_rows for t in new_features)
    out.carried_rows = base_features.num_rows
    feature_rows = _merge([base_features, *new_features], CONTOUR_FEATURES, ctx.features_metadata)
    del base_features, new_features

    key = f"era5-contours/{ctx.attempt}/{task.variable}/{task.first:%Y-%m}"
    if feature_rows.num_rows:
        out.features_files = datafiles.write_data_files(
            ctx.features_metadata,
            ctx.features_io,
            feature_rows,
            CONTOUR_FEATURES,
            write_uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"{key}/{CONTOUR_FEATURES.name}"),
        )
    out.summary_files = datafiles.write_data_files(
        ctx.summary_metadata,
        ctx.summary_io,
        summary_rows,
        DAILY_SUMMARY,
        write_uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"{key}/{DAILY_SUMMARY.name}"),
    )
    return out

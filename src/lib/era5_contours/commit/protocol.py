"""A run's commit: both tables, then the maps, under the commit lease, recoverable.

Iceberg commits one table at a time. What keeps ``contour_features`` and
``daily_summary`` agreeing about every (day, variable):

1. the run holds the database's :class:`~era5_contours.commit.lease.CommitLease` from before it
   reads the months it rewrites until its maps are published, so no other run's commit
   falls between its two commits or between its read and its write;
2. before the first table changes, the lease record carries the run's *intent*: the
   tables' snapshots before, the data files it adds, its staging folder and the maps it
   publishes;
3. the tables commit in order (each commit tagged ``run-attempt`` in its snapshot
   summary), then the staged maps are moved into place;
4. if the second commit fails, the first is undone by a compensating commit
   (:func:`~era5_contours.commit.iceberg.revert_attempt`): only this run's files change, every
   other run's commits stay;
5. if the run is killed anywhere in between, its lease expires with the intent pending,
   and the next run (or the maintenance command) that takes the lease finishes it
   (:func:`finish_intent`): both tables committed, so the maps are published (roll
   forward); one committed, so it is undone (roll back).

Readers may see the two tables disagree only between the two commits of a run (a few
hundred milliseconds) or, after a kill, until the lease expires and the next run takes it;
``db/create_consistent_views.sql`` joins on ``run_id`` for readers who must never see that.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from era5_common import storage
from era5_contours.tables.datafiles import data_file_paths

from . import iceberg
from .intent import CommitIntent
from .lease import CommitLease
from .publish import publish_maps

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

logger = logging.getLogger(__name__)


class CommitError(RuntimeError):
    """A table commit failed; whatever of the run had committed was undone."""


def table_name(table: Table) -> str:
    """``database.table`` of a pyiceberg table."""
    return ".".join(table.name())


def make_intent(
    *,
    run_id: str,
    attempt: str,
    tables: Sequence[Table],
    files: Mapping[str, Sequence[DataFile]],
    staging: str,
    output_path: str,
    publish: Sequence[str],
    unpublish: Sequence[str],
) -> CommitIntent:
    """The intent of a run's commit, with the tables' current snapshots as ``before``.

    ``publish`` are map paths relative to the output (and to the staging folder, where
    they wait); ``unpublish`` are published maps to remove (days that are not ok now).
    """
    before = {}
    for t in tables:
        snapshot = t.current_snapshot()
        before[table_name(t)] = snapshot.snapshot_id if snapshot is not None else None
    return CommitIntent(
        run_id=run_id,
        attempt=attempt,
        order=tuple(table_name(t) for t in tables),
        before=before,
        files={name: tuple(data_file_paths(fs)) for name, fs in files.items()},
        staging=staging,
        output_path=output_path,
        publish=tuple(publish),
        unpublish=tuple(unpublish),
    )


def commit_run(
    lease: CommitLease,
    tables: Sequence[Table],
    files: Mapping[str, Sequence[DataFile]],
    replace: list[tuple[date, str]],
    intent: CommitIntent,
    properties: Mapping[str, str] | None = None,
) -> int:
    """Commit both tables in order, then publish the maps; the lease must be held.

    ``properties`` go into both snapshots' summaries beside the run's id (the ``--area``).

    Parameters
    ----------
    tables
        In commit order (``contour_features`` first: a reader who trusts
        ``daily_summary`` finds its features).
    files
        Data files per table name (:func:`table_name`).
    replace
        The (day, variable) pairs whose rows every table replaces.
    intent
        From :func:`make_intent`, recorded in the lease before the first commit.

    Returns
    -------
    int
        The number of maps published.

    Raises
    ------
    CommitError
        A commit failed; the tables are as they were before the run.
    """
    lease.set_pending([intent])
    props = {**(properties or {}), "run-id": intent.run_id, "run-attempt": intent.attempt}
    done: list[Table] = []
    for table in tables:
        name = table_name(table)
        try:
            lease.check()
            iceberg.commit_replace(table, files.get(name, []), replace, snapshot_properties=props)
        except Exception as exc:
            undone = _undo(done, intent)
            _remove_files(intent)
            lease.set_pending([])
            raise CommitError(
                f"committing {name} failed ({_one_line(exc)})"
                + (f"; {', '.join(undone)} undone" if undone else "")
                + ": nothing of this run is committed"
            ) from exc
        done.append(table)
    published = publish_maps(intent)
    lease.set_pending([])
    return published


def _undo(tables: Sequence[Table], intent: CommitIntent) -> list[str]:
    undone = []
    for table in reversed(tables):
        name = table_name(table)
        iceberg.revert_attempt(table, intent.attempt, intent.before.get(name))
        undone.append(name)
    return undone


def _remove_files(intent: CommitIntent) -> None:
    """Remove the data files of an intent that no snapshot references (best effort)."""
    for path in intent.all_files():
        try:
            storage.delete(path)
        except Exception as exc:  # noqa: BLE001 - an orphan for the maintenance command
            logger.warning("could not remove %s: %s", path, exc)


def finish_intent(intent: CommitIntent, tables: Mapping[str, Table]) -> str:
    """Complete or undo the commit of a run that died holding the lease; what was done.

    Both tables committed: the maps are published (roll forward). Only some: those are
    undone by compensating commits and the run's files removed (roll back). None: the
    run's files and staging folder are removed.
    """
    attempt = intent.attempt
    committed = []
    for name in intent.order:
        table = tables[name]
        table.refresh()
        if iceberg.attempt_snapshots(table, attempt, intent.before.get(name)):
            committed.append(name)
    if committed and len(committed) == len(intent.order):
        moved = publish_maps(intent, missing_ok=True)
        action = f"rolled forward: both tables had committed, {moved} staged maps published"
    else:
        for name in reversed(committed):
            iceberg.revert_attempt(tables[name], attempt, intent.before.get(name))
        _remove_files(intent)
        try:
            storage.delete_prefix(intent.staging)
        except Exception as exc:  # noqa: BLE001
            logger.warning("could not remove the staging folder %s: %s", intent.staging, exc)
        action = (
            f"rolled back: {', '.join(committed)} undone" if committed else "nothing committed"
        ) + ", its files removed"
    logger.warning(
        "finished the interrupted commit of run %s (%s): %s", intent.run_id, attempt, action
    )
    return action


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300]

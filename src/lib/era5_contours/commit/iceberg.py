"""Commits to one Iceberg table: replace (day, variable) pairs, find a run's snapshots, undo.

:func:`commit_replace` deletes the rows of the (day, variable) pairs and appends the data
files in one Iceberg transaction, so a rerun of a day replaces its rows and readers see
either the old table or the new one. :func:`revert_attempt` undoes one run's commits with
a compensating commit. Files that no snapshot references (those of a failed or killed
run) are orphans for :mod:`~era5_contours.commit.maintenance` to remove.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from pyiceberg.conversions import from_bytes
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.manifest import ManifestEntryStatus
from pyiceberg.schema import Schema
from pyiceberg.types import (
    DateType,
    PrimitiveType,
)

from era5_contours.tables.datafiles import data_file_paths
from era5_contours.tables.filters import replace_filter, replace_keys

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

logger = logging.getLogger(__name__)


_EPOCH = date(1970, 1, 1)

_NO_MATCH_WARNING = "Delete operation did not match any records"


def _bounds(data_file: DataFile, schema: Schema, column: str) -> tuple[Any, Any]:
    field = schema.find_field(column)
    kind = field.field_type
    low_bytes = (data_file.lower_bounds or {}).get(field.field_id)
    high_bytes = (data_file.upper_bounds or {}).get(field.field_id)
    if low_bytes is None or high_bytes is None:
        raise ValueError(f"{data_file.file_path}: no statistics for column {column!r}")
    if not isinstance(kind, PrimitiveType):  # Iceberg keeps bounds of primitive columns only
        raise ValueError(f"{data_file.file_path}: column {column!r} is not primitive ({kind})")
    if isinstance(kind, DateType):  # Iceberg stores days since 1970-01-01
        # from_bytes is annotated with a type variable its arguments do not bind; a date's
        # value is an int.
        low_days, high_days = int(from_bytes(kind, low_bytes)), int(from_bytes(kind, high_bytes))
        return _EPOCH + timedelta(days=low_days), _EPOCH + timedelta(days=high_days)
    return from_bytes(kind, low_bytes), from_bytes(kind, high_bytes)


def check_files_within(
    schema: Schema, data_files: Sequence[DataFile], replace: Iterable[tuple[date, str]]
) -> None:
    """Refuse data files holding rows outside the replaced (day, variable) pairs.

    Such rows would escape the delete of a later rerun and duplicate. Reads the files'
    statistics only. Raises ValueError for a file out of bounds.
    """
    keys = replace_keys(replace)
    for data_file in data_files:
        var_low, var_high = _bounds(data_file, schema, "variable")
        day_low, day_high = _bounds(data_file, schema, "day")
        uri = data_file.file_path
        if var_low != var_high:
            raise ValueError(f"{uri}: holds several variables ({var_low}..{var_high})")
        days = keys.get(var_low, set())
        span = (day_high - day_low).days + 1
        if span > len(days) or any(day_low + timedelta(days=i) not in days for i in range(span)):
            raise ValueError(
                f"{uri}: days {day_low}..{day_high} of {var_low} are not all in replace"
            )


def commit_replace(
    table: Table,
    data_files: Sequence[DataFile],
    replace: list[tuple[date, str]],
    *,
    snapshot_properties: Mapping[str, str] | None = None,
    max_attempts: int = 3,
) -> None:
    """Replace the rows of the (day, variable) pairs in ``replace`` by ``data_files``.

    One pyiceberg transaction: delete by row filter, then append the data files; readers
    see the table before or after, never between. Files whose rows all belong to one
    deleted (day, variable) are dropped from the metadata without being read; a file
    holding other rows too (e.g. after a compaction) is rewritten by pyiceberg, which needs
    ``pyiceberg-core`` for a partitioned table.

    Parameters
    ----------
    table
        The Iceberg table (updated in place on success).
    data_files
        From :func:`write_data_files`; each file's rows must lie within ``replace``.
    replace
        (day, variable) pairs whose rows are deleted; a pair without file ends up empty.
    snapshot_properties
        Extra snapshot summary entries (e.g. ``{"run-id": ...}``).
    max_attempts
        Tries when another writer committed first: the transaction is redone on the
        refreshed table (a failed try leaves the table as it was).

    Raises
    ------
    ValueError
        Before anything is committed: the table stays as it was.
    """
    if not data_files and not replace:
        return
    paths = data_file_paths(data_files)
    if len(set(paths)) != len(paths):
        raise ValueError("data_files holds duplicates")
    check_files_within(table.schema(), data_files, replace)
    row_filter = replace_filter(replace) if replace else None
    properties = dict(snapshot_properties or {})
    for attempt in range(1, max_attempts + 1):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_NO_MATCH_WARNING)
                with table.transaction() as tx:
                    if row_filter is not None:
                        tx.delete(row_filter, snapshot_properties=properties)
                    if data_files:
                        with tx.update_snapshot(
                            snapshot_properties=properties
                        ).fast_append() as append:
                            for data_file in data_files:
                                append.append_data_file(data_file)
        except CommitFailedException:
            if attempt == max_attempts:
                raise
            logger.warning(
                "commit to %s conflicted (try %d), retrying", ".".join(table.name()), attempt
            )
            table.refresh()
        else:
            logger.info(
                "committed %d files replacing %d (day, variable) pairs in %s",
                len(data_files),
                len(replace),
                ".".join(table.name()),
            )
            return


def committed_snapshot_summary(table: Table) -> dict[str, str]:
    """Current snapshot id, operation and summary (``total-records``, ``added-data-files``...)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return {}
    summary = {"snapshot-id": str(snapshot.snapshot_id)}
    if snapshot.summary is not None:
        summary.update({k: str(v) for k, v in snapshot.summary.model_dump().items()})
    return summary


def attempt_snapshots(
    table: Table, attempt: str, since: int | None = None, *, key: str = "run-attempt"
) -> list[int]:
    """Ids of the snapshots a run attempt committed (``run-attempt`` in their summary).

    Only snapshots after ``since`` (a snapshot id of the table's history) are looked at;
    ``key="reverts-attempt"`` finds the compensating commits of the attempt instead.
    """
    snapshots = sorted(table.metadata.snapshots, key=lambda s: (s.sequence_number, s.timestamp_ms))
    if since is not None:
        ids = [s.snapshot_id for s in snapshots]
        if since in ids:
            snapshots = snapshots[ids.index(since) + 1 :]
    return [s.snapshot_id for s in snapshots if s.summary is not None and s.summary[key] == attempt]


def _snapshot_changes(table: Table, snapshot_id: int) -> tuple[list[DataFile], list[DataFile]]:
    """Data files one snapshot added and removed, from the manifests it wrote."""
    snapshot = table.metadata.snapshot_by_id(snapshot_id)
    if snapshot is None:
        raise ValueError(f"{'.'.join(table.name())}: no snapshot {snapshot_id}")
    added: list[DataFile] = []
    removed: list[DataFile] = []
    for manifest in snapshot.manifests(table.io):
        if manifest.added_snapshot_id != snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
            if entry.snapshot_id != snapshot_id:
                continue
            if entry.status == ManifestEntryStatus.ADDED:
                added.append(entry.data_file)
            elif entry.status == ManifestEntryStatus.DELETED:
                removed.append(entry.data_file)
    return added, removed


def revert_attempt(
    table: Table, attempt: str, since: int | None = None, *, max_attempts: int = 3
) -> int:
    """Undo what a run attempt committed to ``table`` with a compensating commit.

    The files the attempt added are removed and the files it removed come back, in one
    new snapshot (``reverts-attempt`` in its summary). Unlike rolling the table back to
    an older snapshot, this leaves every other commit in place, made before or after.
    The caller holds the commit lease, so no other run changed those rows since.

    Returns
    -------
    int
        How many files changed (0 when the attempt committed nothing).

    Raises
    ------
    ValueError
        When a file the attempt added is no longer in the table (rewritten since, e.g. by
        a compaction): reverting it would need its rows, which is beyond a metadata change.
    """
    for attempt_no in range(1, max_attempts + 1):
        table.refresh()
        if attempt_snapshots(table, attempt, since, key="reverts-attempt"):
            return 0  # reverted already (an interrupted recovery, finished again)
        added: dict[str, DataFile] = {}
        removed: dict[str, DataFile] = {}
        for snapshot_id in attempt_snapshots(table, attempt, since):
            snap_added, snap_removed = _snapshot_changes(table, snapshot_id)
            for f in snap_removed:
                if f.file_path in added:  # added and removed again by the same attempt
                    del added[f.file_path]
                else:
                    removed[f.file_path] = f
            for f in snap_added:
                added[f.file_path] = f
        if not added and not removed:
            return 0
        live = {t.file.file_path for t in table.scan().plan_files()} if added else set()
        gone = [p for p in added if p not in live]
        if gone:
            raise ValueError(
                f"cannot revert attempt {attempt} on {'.'.join(table.name())}: its files "
                f"{gone[:3]} were rewritten since"
            )
        try:
            with (
                table.transaction() as tx,
                tx.update_snapshot(
                    snapshot_properties={"reverts-attempt": attempt}
                ).overwrite() as overwrite,
            ):
                for f in added.values():
                    overwrite.delete_data_file(f)
                for f in removed.values():
                    overwrite.append_data_file(f)
        except CommitFailedException:
            if attempt_no == max_attempts:
                raise
            continue
        logger.warning(
            "reverted attempt %s on %s: %d files removed, %d restored",
            attempt,
            ".".join(table.name()),
            len(added),
            len(removed),
        )
        return len(added) + len(removed)
    return 0

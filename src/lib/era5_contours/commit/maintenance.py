"""Table maintenance: finish interrupted commits, expire snapshots, remove what nothing uses.

Every run adds snapshots, and runs that fail or are killed leave files that no snapshot
references: month rewrites that never committed, staged maps and rows. Under the
database's commit lease (so that no run is between its write and its commit),
:func:`maintain`:

1. finishes the intent of a run that died holding the lease (as the next run would), so
   the two tables agree again without waiting for another run;
2. expires the snapshots older than the retention, keeping at least the last few;
3. deletes the files under each table's location that no remaining snapshot or metadata
   file references, once they are older than a safety window (a file younger than that
   may belong to a commit in flight elsewhere, e.g. an Athena OPTIMIZE);
4. deletes the staging folders of runs (under the output path) untouched for as long.

``dry_run`` reports all of it and changes nothing. Athena's ``OPTIMIZE`` (compaction) and
``VACUUM`` stay the state machine's; this command is what works on local warehouses and
outside Athena.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pyiceberg.exceptions import NoSuchTableError

from era5_common import storage
from era5_contours.outputs import layout
from era5_contours.tables.schema import CONTOUR_FEATURES, DAILY_SUMMARY

from . import protocol
from .intent import CommitIntent
from .lease import CommitLease, lease_root

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

logger = logging.getLogger(__name__)


@dataclass
class MaintenanceReport:
    """What :func:`maintain` did (or, in a dry run, would do)."""

    dry_run: bool
    finished_intents: list[str] = field(default_factory=list)
    expired_snapshots: dict[str, list[int]] = field(default_factory=dict)
    orphan_files: dict[str, list[str]] = field(default_factory=dict)
    staging_folders: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The summary printed at the end."""
        verb = "would" if self.dry_run else "did"
        lines = [f"maintenance ({'dry run' if self.dry_run else 'applied'}):"]
        lines += [f"  finished interrupted commit: {t}" for t in self.finished_intents]
        for name, ids in self.expired_snapshots.items():
            lines.append(f"  {name}: {verb} expire {len(ids)} snapshots")
        for name, files in self.orphan_files.items():
            lines.append(f"  {name}: {verb} delete {len(files)} unreferenced files")
            lines += [f"    {f}" for f in files[:20]]
            if len(files) > 20:
                lines.append(f"    ... and {len(files) - 20} more")
        lines.append(f"  staging folders: {verb} delete {len(self.staging_folders)}")
        lines += [f"    {f}" for f in self.staging_folders[:20]]
        return "\n".join(lines)


def _normalise(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def referenced_files(table: Table, excluding: Collection[int] = ()) -> set[str]:
    """Every file the table's metadata references, but for the snapshots ``excluding``.

    Metadata files, manifest lists, manifests and the live data files of every snapshot
    it keeps (``excluding``: the snapshots about to expire).
    """
    metadata = table.metadata
    refs = {table.metadata_location}
    refs |= {entry.metadata_file for entry in metadata.metadata_log}
    for snapshot in metadata.snapshots:
        if snapshot.snapshot_id in excluding:
            continue
        refs.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            refs.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                refs.add(entry.data_file.file_path)
    return {_normalise(r) for r in refs}


def unreferenced_files(
    table: Table, older_than: float, excluding: Collection[int] = ()
) -> list[str]:
    """Files under the table's location that nothing references, older than ``older_than``.

    ``older_than`` is in epoch seconds; ``excluding``: snapshots counted as expired already.
    """
    refs = referenced_files(table, excluding)
    found = storage.list_with_times(_normalise(table.location()))
    return sorted(p for p, mtime in found if mtime < older_than and _normalise(p) not in refs)


def snapshots_to_expire(table: Table, older_than: datetime, retain_last: int) -> list[int]:
    """Snapshots older than ``older_than``, except the newest ``retain_last`` and the current."""
    snapshots = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)
    keep = {s.snapshot_id for s in snapshots[-retain_last:]} if retain_last > 0 else set()
    current = table.current_snapshot()
    if current is not None:
        keep.add(current.snapshot_id)
    cutoff_ms = older_than.timestamp() * 1000
    return [
        s.snapshot_id for s in snapshots if s.timestamp_ms < cutoff_ms and s.snapshot_id not in keep
    ]


def stale_staging(output_path: str, older_than: float) -> list[str]:
    """Staging folders of runs whose newest file is older than ``older_than``."""
    root = storage.join(output_path, layout.STAGING)
    newest: dict[str, float] = {}
    prefix = _normalise(root).rstrip("/") + "/"
    for path, mtime in storage.list_with_times(root):
        rest = _normalise(path)[len(prefix) :]
        attempt = rest.split("/", 1)[0]
        if attempt:
            newest[attempt] = max(newest.get(attempt, 0.0), mtime)
    return sorted(storage.join(root, a) for a, t in newest.items() if t < older_than)


def maintain(
    cat: Catalog,
    database: str,
    warehouse_path: str,
    *,
    output_path: str | None = None,
    snapshot_retention: timedelta = timedelta(days=7),
    retain_last: int = 5,
    orphan_age: timedelta = timedelta(days=3),
    dry_run: bool = False,
    lease_wait_seconds: float = 3600.0,
    lease_seconds: float = 300.0,
) -> MaintenanceReport:
    """Maintain the database's two tables (and the output's staging area).

    Raises
    ------
    era5_contours.commit.lease.LeaseTimeout
        When a run held the commit lease for longer than ``lease_wait_seconds``.
    """
    report = MaintenanceReport(dry_run=dry_run)
    tables: dict[str, Table] = {}
    for table_def in (CONTOUR_FEATURES, DAILY_SUMMARY):
        try:
            table = cat.load_table(f"{database}.{table_def.name}")
        except NoSuchTableError:
            logger.info("%s.%s does not exist: nothing to maintain", database, table_def.name)
            continue
        tables[protocol.table_name(table)] = table

    lease = CommitLease(
        lease_root(warehouse_path, database),
        {"run_id": "maintenance", "attempt": f"maintenance-{int(time.time())}"},
        ttl=lease_seconds,
    )

    def finish(intents: list[CommitIntent]) -> None:
        for intent in intents:
            if dry_run:
                report.finished_intents.append(f"{intent.run_id} (left for a real run)")
                raise _DryRunStop
            report.finished_intents.append(
                f"{intent.run_id}: {protocol.finish_intent(intent, tables)}"
            )

    held: CommitLease | None = lease
    try:
        lease.acquire(lease_wait_seconds, on_inherit=finish)
    except _DryRunStop:
        # A dry run leaves a dead run's intent for the next real holder.
        held = None
    try:
        now = time.time()
        for name, table in tables.items():
            table.refresh()
            expire = snapshots_to_expire(
                table, datetime.now(timezone.utc) - snapshot_retention, retain_last
            )
            report.expired_snapshots[name] = expire
            if expire and not dry_run:
                table.maintenance.expire_snapshots().by_ids(expire).commit()
                table.refresh()
            # A dry run counts the files only the expiring snapshots reference as well.
            orphans = unreferenced_files(
                table, now - orphan_age.total_seconds(), excluding=expire if dry_run else ()
            )
            report.orphan_files[name] = orphans
            if not dry_run:
                for path in orphans:
                    storage.delete(path)
        if output_path:
            report.staging_folders = stale_staging(output_path, now - orphan_age.total_seconds())
            if not dry_run:
                for folder in report.staging_folders:
                    storage.delete_prefix(folder)
    finally:
        if held is not None and held.number is not None:
            held.release()
    logger.info("%s", report.text())
    return report


class _DryRunStop(Exception):
    """Raised inside a dry run's take-over: nothing is finished, nothing changes."""

"""The maintenance command: finish a dead run's commit, expire snapshots, remove orphans.

On the sql catalog in a folder and on the Glue catalog with S3 (moto), with the runs of
test_commits' Warehouse (the job's month rewrite and commit protocol, without Spark).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from commit_support import Killed, Warehouse, day, file_exists, patch_commit

from era5_common import storage
from era5_contours.commit.maintenance import maintain

REPO = Path(__file__).resolve().parents[1]
NOW = timedelta(0)  # no safety window: every unreferenced file counts


def _maintain(wh, **kw):
    return maintain(wh.catalog, "climate", wh.path, output_path=wh.output, lease_seconds=30, **kw)


def _kill_between_commits(wh, monkeypatch, run_id, days):
    def hook(table):
        if threading.current_thread().name == run_id and table == "daily_summary":
            raise Killed

    patch_commit(monkeypatch, hook)
    ran = {}
    t = threading.Thread(target=lambda: ran.update(intent=wh.run(run_id, days, ttl=4)), name=run_id)
    t.start()
    t.join(60)
    monkeypatch.undo()
    return ran["intent"]


def test_maintenance_finishes_a_dead_runs_commit(wh, monkeypatch):
    wh.run("base", [1, 2, 3])
    intent = _kill_between_commits(wh, monkeypatch, "killed", [3, 4])
    assert wh.contents()[day(4)] == (None, {"killed"}, 2)  # the window a kill opens

    report = _maintain(wh, orphan_age=timedelta(hours=1))
    (finished,) = report.finished_intents
    assert finished.startswith("killed: rolled back: climate.contour_features undone")
    assert wh.contents() == {d: ("base", {"base"}, 2) for d in (day(1), day(2), day(3))}
    for paths in intent.files.values():
        assert paths and not any(file_exists(p) for p in paths)


def test_dry_run_reports_and_changes_nothing(wh, monkeypatch):
    wh.run("base", [1, 2])
    wh.run("again", [2, 3])
    _kill_between_commits(wh, monkeypatch, "killed", [5])
    before = [len(t.refresh().metadata.snapshots) for t in (wh.features, wh.summary)], wh.contents()
    listing = sorted(p for p, _ in storage.list_with_times(wh.path))

    report = _maintain(wh, dry_run=True, snapshot_retention=NOW, retain_last=1, orphan_age=NOW)
    assert report.finished_intents == ["killed (left for a real run)"]
    assert all(report.expired_snapshots.values())
    assert all(report.orphan_files.values())
    after = [len(t.refresh().metadata.snapshots) for t in (wh.features, wh.summary)], wh.contents()
    assert after == before
    lease_records = [p for p in listing if "_commit_lease" in p]
    assert sorted(p for p, _ in storage.list_with_times(wh.path) if "_commit_lease" not in p) == [
        p for p in listing if p not in lease_records
    ]
    # The dead run's intent is still there for a real run to finish.
    report = _maintain(wh, orphan_age=timedelta(hours=1))
    assert report.finished_intents[0].startswith("killed: rolled back")


def test_expiry_and_orphan_removal_keep_the_rows(wh):
    for n in range(4):
        wh.run(f"run{n}", [1, 2, n + 3])
    rows = wh.contents()
    stray = storage.join(
        wh.features.location(), "data", "variable=t2m", "day_month=2020-07", "stray.parquet"
    )
    storage.write_bytes(stray.removeprefix("file://"), b"left by a task that died")
    report = _maintain(wh, snapshot_retention=NOW, retain_last=2, orphan_age=NOW)
    for name in ("climate.contour_features", "climate.daily_summary"):
        assert report.expired_snapshots[name]
        assert report.orphan_files[name]
    assert stray.removeprefix("file://") in report.orphan_files["climate.contour_features"]
    assert not file_exists(stray)
    for table in (wh.features, wh.summary):
        table.refresh()
        assert len(table.metadata.snapshots) == 2
        # Every file the table still references is there, and nothing else is.
        live = {t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()}
        data = {
            p.removeprefix("file://")
            for p, _ in storage.list_with_times(table.location().removeprefix("file://"))
            if p.endswith(".parquet")
        }
        assert data == live
    assert wh.contents() == rows
    wh.run("after", [6])  # the tables take commits as before
    assert wh.contents()[day(6)] == ("after", {"after"}, 2)


def test_the_safety_window_keeps_young_files_and_staging(tmp_path):
    wh = Warehouse(str(tmp_path))
    wh.run("base", [1])
    data = Path(wh.features.location().removeprefix("file://")) / "data"
    old, young = data / "old.parquet", data / "young.parquet"
    for f in (old, young):
        f.write_bytes(b"x")
    staging = Path(wh.output) / "_staging"
    (staging / "old-run" / "rows").mkdir(parents=True)
    (staging / "old-run" / "rows" / "x.arrow").write_bytes(b"x")
    (staging / "young-run").mkdir()
    (staging / "young-run" / "_run.json").write_text("{}")
    two_days_ago = time.time() - 2 * 86400
    for f in (old, staging / "old-run" / "rows" / "x.arrow"):
        os.utime(f, (two_days_ago, two_days_ago))

    report = _maintain(wh, orphan_age=timedelta(days=1))
    assert report.orphan_files["climate.contour_features"] == [str(old)]
    assert report.staging_folders == [str(staging / "old-run")]
    assert not old.exists() and young.exists()
    assert not (staging / "old-run").exists() and (staging / "young-run").exists()


def test_the_command_line(tmp_path):
    wh = Warehouse(str(tmp_path))
    wh.run("base", [1])
    wh.run("again", [1])
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "src" / "jobs" / "maintain_tables.py"),
            "--warehouse_path",
            wh.path,
            "--output_path",
            wh.output,
            "--snapshot_retention_hours",
            "0",
            "--retain_last",
            "1",
            "--dry_run",
            "--JOB_NAME",
            "maintenance",  # as Glue passes it: ignored
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "maintenance (dry run):" in proc.stdout
    assert "climate.contour_features: would expire" in proc.stdout
    bad = subprocess.run(
        [
            sys.executable,
            str(REPO / "src" / "jobs" / "maintain_tables.py"),
            "--catalog_type",
            "glue",
            "--warehouse_path",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert bad.returncode == 2
    assert "maintenance failed: ValueError: the glue catalog needs an s3:// warehouse" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr

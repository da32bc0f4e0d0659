"""The commit protocol on real Iceberg tables (sql catalog), without Spark.

Each simulated run does what the job's driver does after its days are processed: take
the commit lease, rewrite its (variable, month) partitions with the month rewrite, and
commit both tables with its intent recorded. The interleavings that broke the tables
before: a second run committing between a run's two commits, a run killed between its
commits or while publishing, a failing second commit.
"""

from __future__ import annotations

import threading
import time

from commit_support import Killed, day, file_exists, patch_commit
from test_catalog import feature_rows

from era5_common import storage
from era5_contours.commit import iceberg
from era5_contours.commit import protocol as commits
from era5_contours.tables import datafiles
from era5_contours.tables.schema import CONTOUR_FEATURES


def test_runs_leave_one_file_per_month_and_replace_their_days(wh):
    wh.run("first", [1, 2, 3, 4])
    wh.run("second", [3, 4, 5])
    assert wh.contents() == {
        day(1): ("first", {"first"}, 2),
        day(2): ("first", {"first"}, 2),
        day(3): ("second", {"second"}, 2),
        day(4): ("second", {"second"}, 2),
        day(5): ("second", {"second"}, 2),
    }
    for table in (wh.features, wh.summary):
        assert len(list(table.scan().plan_files())) == 1
    assert [wh.published(n) for n in (1, 3, 5)] == ["first", "second", "second"]


def test_a_second_run_waits_while_the_first_is_between_its_commits(wh, monkeypatch):
    wh.run("base", [1, 2, 3, 4, 5, 6])
    between = threading.Event()
    go_on = threading.Event()

    def hook(table):
        if threading.current_thread().name == "A" and table == "daily_summary":
            between.set()
            assert go_on.wait(30)

    patch_commit(monkeypatch, hook)
    a = threading.Thread(target=wh.run, args=("A", [2, 3, 4]), name="A")
    a.start()
    assert between.wait(30)
    b = threading.Thread(target=wh.run, args=("B", [4, 5]), name="B")
    b.start()
    time.sleep(1.0)
    # B waits for the lease: nothing of B is committed while A is between its commits.
    runs = {entry[0] for entry in wh.contents().values()} | {
        r for entry in wh.contents().values() for r in entry[1]
    }
    assert "B" not in runs
    assert b.is_alive()
    go_on.set()
    a.join(30)
    b.join(30)
    assert wh.contents() == {
        day(1): ("base", {"base"}, 2),
        day(2): ("A", {"A"}, 2),
        day(3): ("A", {"A"}, 2),
        day(4): ("B", {"B"}, 2),
        day(5): ("B", {"B"}, 2),
        day(6): ("base", {"base"}, 2),
    }


def test_a_run_killed_between_its_commits_is_undone_by_the_next_holder(wh, monkeypatch):
    wh.run("base", [1, 2, 3])

    def hook(table):
        if threading.current_thread().name == "killed" and table == "daily_summary":
            raise Killed

    patch_commit(monkeypatch, hook)
    ran = {}
    t = threading.Thread(
        target=lambda: ran.update(intent=wh.run("killed", [2, 3, 4], ttl=4)), name="killed"
    )
    t.start()
    t.join(30)
    intent = ran["intent"]
    # Between the commits the tables disagree: features from the killed run, summary not.
    assert wh.contents()[day(4)][1] == {"killed"}
    assert wh.exists(intent.staging)

    wh.run("next", [10])
    assert wh.contents() == {
        day(1): ("base", {"base"}, 2),
        day(2): ("base", {"base"}, 2),
        day(3): ("base", {"base"}, 2),
        day(10): ("next", {"next"}, 2),
    }
    assert wh.published(4) is None and wh.published(2) == "base"
    # The killed run's files and staging folder are gone; the base file is back.
    for paths in intent.files.values():
        assert paths and not any(file_exists(p) for p in paths)
    assert not wh.exists(intent.staging)


def test_a_run_killed_while_publishing_is_rolled_forward(wh, monkeypatch):
    wh.run("base", [1, 2])
    real_move = storage.move
    moved: list[str] = []

    def move(src, dst):
        if moved:  # the first map is published, then the run dies
            raise Killed
        moved.append(dst)
        return real_move(src, dst)

    monkeypatch.setattr(storage, "move", move)
    wh.run("killed", [1, 2, 3], ttl=4)
    monkeypatch.setattr(storage, "move", real_move)
    assert len(moved) == 1
    assert wh.contents()[day(3)] == ("killed", {"killed"}, 2)  # both tables committed
    assert [wh.published(n) for n in (1, 2, 3)].count("killed") == 1

    wh.run("next", [20])
    assert [wh.published(n) for n in (1, 2, 3)] == ["killed", "killed", "killed"]
    wh.assert_agree()


def test_a_failing_second_commit_undoes_the_first_and_keeps_other_rows(wh, monkeypatch):
    wh.run("base", [1, 2, 3])

    def hook(table):
        if threading.current_thread().name == "bad" and table == "daily_summary":
            raise RuntimeError("catalog unavailable")

    patch_commit(monkeypatch, hook)
    errors = []

    def bad():
        try:
            wh.run("bad", [2, 3, 4])
        except commits.CommitError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=bad, name="bad")
    t.start()
    t.join(30)
    (error,) = errors
    assert "committing climate.daily_summary failed (RuntimeError: catalog unavailable)" in error
    assert "climate.contour_features undone" in error
    assert wh.contents() == {d: ("base", {"base"}, 2) for d in (day(1), day(2), day(3))}
    # The lease is free again: the next run commits at once.
    wh.run("after", [4], wait=1)
    wh.assert_agree()


def test_revert_attempt_leaves_later_commits_of_others(wh):
    """The compensating commit removes only the attempt's own changes."""
    rows_a = datafiles.write_data_files(
        wh.features.metadata,
        wh.features.io,
        feature_rows(day(1), "t2m", [0, 1], "a"),
        CONTOUR_FEATURES,
    )
    before = wh.features.current_snapshot()
    iceberg.commit_replace(
        wh.features, rows_a, [(day(1), "t2m")], snapshot_properties={"run-attempt": "a"}
    )
    rows_b = datafiles.write_data_files(
        wh.features.metadata,
        wh.features.io,
        feature_rows(day(2), "t2m", [0], "b"),
        CONTOUR_FEATURES,
    )
    iceberg.commit_replace(
        wh.features, rows_b, [(day(2), "t2m")], snapshot_properties={"run-attempt": "b"}
    )
    assert iceberg.revert_attempt(wh.features, "a", before.snapshot_id if before else None) == 1
    rows = wh.features.refresh().scan().to_arrow().to_pylist()
    assert {(r["day"], r["run_id"]) for r in rows} == {(day(2), "b")}
    # Finishing an intent twice (a take-over that died itself) reverts once.
    assert iceberg.revert_attempt(wh.features, "a", before.snapshot_id if before else None) == 0
    assert len(wh.features.refresh().scan().to_arrow()) == 1


def test_the_agreed_view_hides_what_a_killed_run_left_disagreeing(tmp_path, monkeypatch):
    """db/'s view, run by DuckDB (the local stand-in for Athena) on the tables as a run
    killed between its commits leaves them."""
    from pathlib import Path

    from commit_support import Warehouse

    from era5_tools import localquery

    wh = Warehouse(str(tmp_path))
    wh.run("base", [1, 2])

    def hook(table):
        if threading.current_thread().name == "killed" and table == "daily_summary":
            raise Killed

    patch_commit(monkeypatch, hook)
    t = threading.Thread(target=lambda: wh.run("killed", [2, 3]), name="killed")
    t.start()
    t.join(30)
    duck = localquery.connect_local(wh.catalog, "climate")
    raw = duck.execute("SELECT DISTINCT day, run_id FROM climate.contour_features").fetchall()
    assert sorted(raw) == [(day(1), "base"), (day(2), "killed"), (day(3), "killed")]
    view = Path(__file__).resolve().parents[1] / "db" / "create_view_contour_features_agreed.sql"
    duck.execute(view.read_text())
    agreed = duck.execute(
        "SELECT DISTINCT day, run_id FROM climate.contour_features_agreed"
    ).fetchall()
    assert sorted(agreed) == [(day(1), "base")]

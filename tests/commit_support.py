"""A simulated run's commit on real Iceberg tables, and the fixtures that give them.

:class:`Warehouse` does what the job's driver does once its days are processed (commit
lease, month rewrite, commit protocol), without Spark, on the sql catalog or on the Glue
catalog with S3 (moto). Loaded as a pytest plugin (conftest): ``wh`` is a Warehouse of
each kind, ``moto_endpoint`` a moto server for the module.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from moto_support import moto_server, reset_moto
from test_catalog import feature_rows

from era5_common import storage
from era5_contours.commit import iceberg
from era5_contours.commit import protocol as commits
from era5_contours.commit.lease import CommitLease, lease_root
from era5_contours.tables import catalog
from era5_contours.tables.months import (
    DayResult,
    MonthContext,
    merge_month,
    month_tasks,
    replaced_pairs,
)
from era5_contours.tables.rows import write_rows
from era5_contours.tables.schema import CONTOUR_FEATURES, DAILY_SUMMARY


class Killed(BaseException):
    """Stands for SIGKILL: nothing of the run's own clean-up runs after it."""


def day(n: int) -> dt.date:
    return dt.date(2020, 7, n)


def summary_row(d: dt.date, run_id: str, features: int) -> dict:
    return {
        "day": d,
        "variable": "t2m",
        "units": "degC",
        "dataset": "era5",
        "samples": 24,
        "complete": True,
        "status": "ok",
        "error": None,
        "field_min": 1.0,
        "field_mean": 2.0,
        "field_mean_weighted": 2.0,
        "field_max": 3.0,
        "feature_count": features,
        "source_files": ["a.nc"],
        "run_id": run_id,
        "processed_at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    }


class Warehouse:
    """Both tables on the sql catalog in a folder, or on the Glue catalog and S3 (moto)."""

    def __init__(self, root: str, endpoint: str | None = None):
        self.path = storage.join(root, "warehouse")
        self.output = storage.join(root, "out")
        if endpoint:
            # The region moto serves: without one, pyiceberg asks AWS for the bucket's
            # region and waits out a network timeout (about 6 s per warehouse) first.
            cat = catalog.load_catalog(
                "glue",
                self.path,
                glue_endpoint=endpoint,
                s3_endpoint=endpoint,
                region=os.environ["AWS_DEFAULT_REGION"],
            )
        else:
            cat = catalog.load_catalog("sql", self.path)
        self.catalog = cat
        self.features = catalog.ensure_table(cat, "climate", CONTOUR_FEATURES)
        self.summary = catalog.ensure_table(cat, "climate", DAILY_SUMMARY)

    def tables(self):
        return {commits.table_name(t): t for t in (self.features, self.summary)}

    def run(self, run_id: str, days: list[int], *, ttl: float = 30, wait: float = 60, kill=None):
        """One run's commit of ``days`` (t2m, 2 bands per day); ``kill(step)`` may raise
        Killed at the steps ``features``, ``summary`` (before that table's commit) or
        ``publish``."""
        attempt = f"{run_id}-attempt"
        staging = storage.join(self.output, "_staging", attempt)
        results = []
        for n in days:
            rows = feature_rows(day(n), "t2m", [0, 1], run_id)
            staged = write_rows(storage.join(staging, "rows", "t2m", f"{day(n)}.arrow"), rows)
            storage.write_bytes(
                storage.join(staging, "contours", "t2m", f"{day(n)}.geojson"), run_id.encode()
            )
            results.append(("t2m", DayResult(day(n), "ok", staged, summary_row(day(n), run_id, 2))))
        features, summary = self.features, self.summary
        lease = CommitLease(
            lease_root(self.path, "climate"),
            {"run_id": run_id, "attempt": attempt},
            ttl=ttl,
            poll=0.05,
        )
        by_name = {commits.table_name(t): t for t in (features, summary)}
        lease.acquire(
            wait, on_inherit=lambda intents: [commits.finish_intent(i, by_name) for i in intents]
        )
        try:
            features.refresh()
            summary.refresh()
            months = month_tasks(results)
            ctx = MonthContext(
                features.metadata, features.io, summary.metadata, summary.io, attempt
            )
            merged = [merge_month(m, ctx) for m in months]
            files = {
                commits.table_name(features): [f for r in merged for f in r.features_files],
                commits.table_name(summary): [f for r in merged for f in r.summary_files],
            }
            intent = commits.make_intent(
                run_id=run_id,
                attempt=attempt,
                tables=[features, summary],
                files=files,
                staging=staging,
                output_path=self.output,
                publish=[f"contours/t2m/{day(n)}.geojson" for n in days],
                unpublish=[],
            )
            commits.commit_run(lease, [features, summary], files, replaced_pairs(months), intent)
        except Killed:
            lease.abandon()  # no clean-up, no release: as after SIGKILL
            return intent
        finally:
            if lease.number is not None:
                lease.release()
        return intent

    def contents(self):
        """{day: (summary run_id, {feature run_ids}, feature row count)} for t2m."""
        out: dict = {}
        for r in self.summary.refresh().scan().to_arrow().to_pylist():
            out[r["day"]] = [r["run_id"], set(), 0]
        for r in self.features.refresh().scan().to_arrow().to_pylist():
            entry = out.setdefault(r["day"], [None, set(), 0])
            entry[1].add(r["run_id"])
            entry[2] += 1
        return {k: tuple(v) for k, v in out.items()}

    def assert_agree(self):
        for d, (summary_run, feature_runs, rows) in self.contents().items():
            assert feature_runs == {summary_run} and rows == 2, (d, summary_run, feature_runs)

    def published(self, n: int) -> str | None:
        path = storage.join(self.output, "contours", "t2m", f"{day(n)}.geojson")
        try:
            return storage.read_bytes(path).decode()
        except Exception:  # noqa: BLE001 - absent locally or on S3
            return None

    def exists(self, path: str) -> bool:
        return bool(storage.list_with_times(path)) or file_exists(path)


def file_exists(path: str) -> bool:
    if storage.is_s3(path):
        try:
            storage.read_bytes(path)
        except Exception:  # noqa: BLE001
            return False
        return True
    return Path(path.removeprefix("file://")).exists()


def patch_commit(monkeypatch, hook):
    real = iceberg.commit_replace

    def patched(table, files, replace, **kw):
        hook(table.name()[-1])
        return real(table, files, replace, **kw)

    monkeypatch.setattr(iceberg, "commit_replace", patched)


@pytest.fixture(scope="module")
def moto_endpoint():
    with moto_server() as endpoint:
        yield endpoint


# The Glue catalog on moto is what the jobs commit to on Glue: the lanes run those tests
# (sh/test_glue_lane.sh, marker runtime); the SQL catalog is for local runs only.
@pytest.fixture(params=["sql", pytest.param("glue", marks=pytest.mark.runtime)])
def wh(request, tmp_path):
    if request.param == "sql":
        return Warehouse(str(tmp_path))
    endpoint = request.getfixturevalue("moto_endpoint")
    reset_moto(endpoint)  # the Glue catalog is the process's: no tables of earlier tests
    bucket = f"commits-{time.monotonic_ns()}"
    storage.s3_client().create_bucket(Bucket=bucket)
    return Warehouse(f"s3://{bucket}", endpoint)

"""Whole jobs at once on one warehouse, and a job killed between its two commits.

Each run is the job script in its own process (its own Spark), as two users or two
Step Functions branches would start it: on the sql catalog locally, and on the Glue
catalog with S3 output on a moto server. Afterwards every (day, variable) has exactly one
set of rows, and the two tables agree on which run wrote it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date, timedelta

import pytest
from moto_support import CREDENTIALS, moto_server
from realdata import FRANCE_T2M, FRANCE_TP, require
from test_bad_input import JOB_ENV, REPO, job_command, linked_inputs

from era5_contours.tables.catalog import load_catalog

pytestmark = [pytest.mark.spark, pytest.mark.realdata]


def days(first: int, last: int) -> list[date]:
    return [date(2020, 7, 1) + timedelta(days=n - 1) for n in range(first, last + 1)]


def table_state(cat, database="climate"):
    """{(day, variable): (summary run_id, {feature run_ids})} and file counts."""
    summary = cat.load_table(f"{database}.daily_summary").scan().to_arrow().to_pylist()
    features = (
        cat.load_table(f"{database}.contour_features")
        .scan(selected_fields=("day", "variable", "run_id"))
        .to_arrow()
        .to_pylist()
    )
    state: dict = {}
    for r in summary:
        key = (r["day"], r["variable"])
        assert key not in state, f"two summary rows for {key}"
        state[key] = (r["run_id"], set())
    for r in features:
        state.setdefault((r["day"], r["variable"]), (None, set()))[1].add(r["run_id"])
    return state


def assert_one_set_each(state, expected_days):
    assert set(state) == {(d, v) for d in expected_days for v in ("t2m", "tp")}
    for key, (summary_run, feature_runs) in state.items():
        assert feature_runs == {summary_run}, key


def start(cmd, env):
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO
    )


def finish(proc, timeout=400):
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


@pytest.fixture(autouse=True)
def _need_data():
    require(FRANCE_T2M, FRANCE_TP)


def test_two_runs_on_overlapping_days_at_once_sql(tmp_path):
    inputs, out = linked_inputs(tmp_path), tmp_path / "out"
    a = start(job_command(inputs, out, "2020-07-01", "2020-07-03", "--run_id", "A"), JOB_ENV)
    b = start(job_command(inputs, out, "2020-07-02", "2020-07-04", "--run_id", "B"), JOB_ENV)
    (rc_a, out_a), (rc_b, out_b) = finish(a), finish(b)
    assert (rc_a, rc_b) == (0, 0), out_a[-3000:] + out_b[-3000:]
    state = table_state(load_catalog("sql", str(out / "warehouse")))
    assert_one_set_each(state, days(1, 4))
    # Days only one run covered are that run's.
    assert state[(days(1, 1)[0], "t2m")][0] == "A" and state[(days(4, 4)[0], "tp")][0] == "B"
    for d in days(1, 4):
        for v in ("t2m", "tp"):
            assert (out / "contours" / v / f"{d}.geojson").stat().st_size > 0
    assert not any((out / "_staging").iterdir())


def test_two_runs_on_overlapping_days_at_once_glue_and_s3(tmp_path):
    pytest.importorskip("moto.server", reason="moto[server] not installed")
    import boto3

    with moto_server() as endpoint:
        boto3.client("s3").create_bucket(Bucket="concurrent")
        inputs = linked_inputs(tmp_path)
        common = (
            "--catalog_type",
            "glue",
            "--warehouse_path",
            "s3://concurrent/warehouse",
            "--aws_endpoint_url",
            endpoint,
        )
        env = {**JOB_ENV, **CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
        out = "s3://concurrent/out"
        a = start(
            job_command(inputs, out, "2020-07-01", "2020-07-02", "--run_id", "A", *common), env
        )
        b = start(
            job_command(inputs, out, "2020-07-02", "2020-07-03", "--run_id", "B", *common), env
        )
        (rc_a, out_a), (rc_b, out_b) = finish(a), finish(b)
        assert (rc_a, rc_b) == (0, 0), out_a[-3000:] + out_b[-3000:]
        cat = load_catalog(
            "glue", "s3://concurrent/warehouse", glue_endpoint=endpoint, s3_endpoint=endpoint
        )
        assert_one_set_each(table_state(cat), days(1, 3))
        keys = {
            o["Key"]
            for o in boto3.client("s3").list_objects_v2(Bucket="concurrent", Prefix="out/")[
                "Contents"
            ]
        }
        assert {f"out/contours/{v}/{d}.geojson" for d in days(1, 3) for v in ("t2m", "tp")} <= keys
        assert not [k for k in keys if k.startswith("out/_staging/")]


KILL_BETWEEN_COMMITS = textwrap.dedent(
    """
    import os, runpy, sys
    from era5_contours.commit import iceberg
    real = iceberg.commit_replace
    def commit_then_die(table, *args, **kwargs):
        if table.name()[-1] == "daily_summary":
            os._exit(9)  # killed after contour_features committed
        return real(table, *args, **kwargs)
    iceberg.commit_replace = commit_then_die
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
    """
)


def test_a_job_killed_between_its_commits_is_undone_by_the_next_run(tmp_path):
    inputs, out = linked_inputs(tmp_path), tmp_path / "out"
    first_rc, first_out = finish(
        start(job_command(inputs, out, "2020-07-01", "2020-07-03", "--run_id", "first"), JOB_ENV)
    )
    assert first_rc == 0, first_out[-3000:]
    cat = load_catalog("sql", str(out / "warehouse"))
    before = table_state(cat)
    maps_before = {p: p.read_bytes() for p in (out / "contours").rglob("*.geojson")}

    cmd = job_command(
        inputs, out, "2020-07-02", "2020-07-04", "--run_id", "killed", "--t2m_levels", "interval:5"
    )
    killed_rc, killed_out = finish(
        start([sys.executable, "-c", KILL_BETWEEN_COMMITS, *cmd[1:]], JOB_ENV)
    )
    assert killed_rc == 9, killed_out[-3000:]
    # Until the next run takes the lease, the tables disagree about the killed run's days.
    mid = table_state(cat)
    assert mid[(date(2020, 7, 4), "t2m")] == (None, {"killed"})
    assert mid[(date(2020, 7, 2), "t2m")] == ("first", {"killed"})

    after_rc, after_out = finish(
        start(job_command(inputs, out, "2020-07-10", "2020-07-10", "--run_id", "next"), JOB_ENV)
    )
    assert after_rc == 0, after_out[-3000:]
    assert "rolled back: climate.contour_features undone" in after_out
    state = table_state(cat)
    assert {k: v for k, v in state.items() if k[0] != date(2020, 7, 10)} == before
    assert_one_set_each(state, [*days(1, 3), date(2020, 7, 10)])
    assert {
        p: p.read_bytes() for p in (out / "contours").rglob("*.geojson") if "07-10" not in p.name
    } == maps_before
    assert not any((out / "_staging").iterdir())

"""Bad and awkward input on the Spark job: each (day, variable) fails alone, named.

Every case derives its inputs from the real ERA5 France July 2020 files (slices, copies,
unit changes, truncation) and checks the daily_summary rows, the exit code, that the good
days equal an xarray computation on the raw files (tests/independent.py), and that the
outputs of the other days are intact.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from independent import era5_daily, field_stats
from realdata import FRANCE_T2M, FRANCE_TP, require

from era5_contours.run.config import JobConfig
from era5_contours.run.pipeline import FAILED, INCOMPLETE, OK, run_contour_job
from era5_contours.tables.catalog import load_catalog

pytestmark = [pytest.mark.spark, pytest.mark.realdata]

REPO = Path(__file__).resolve().parents[1]
T2M, TP = FRANCE_T2M, FRANCE_TP
JOB = REPO / "src" / "jobs" / "extract_contours.py"


@pytest.fixture(autouse=True)
def _need_data():
    require(T2M, TP)


def d(day: int) -> date:
    return date(2020, 7, day)


def hours(first: str, last: str) -> slice:
    return slice(np.datetime64(first), np.datetime64(last))


def derive(src: Path, dest: Path, first: str, last: str, change=None) -> Path:
    """Write the samples first..last (inclusive) of a real file, optionally changed."""
    with xr.open_dataset(src) as ds:
        part = ds.sel(valid_time=hours(first, last)).load()
    if change is not None:
        part = change(part)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part.to_netcdf(dest)
    return dest


def run(spark, inputs: Path, out: Path, first: int, last: int, *, job=None, **extra):
    """The job over July ``first``..``last``; ``job`` holds run_contour_job's own options."""
    args = {
        "input_path": str(inputs),
        "output_path": str(out),
        "start_date": d(first).isoformat(),
        "end_date": d(last).isoformat(),
        **extra,
    }
    return run_contour_job(spark, JobConfig.from_args(args), **(job or {}))


def summary_rows(out: Path) -> dict[tuple[date, str], dict]:
    table = load_catalog("sql", str(out / "warehouse")).load_table("climate.daily_summary")
    return {(r["day"], r["variable"]): r for r in table.scan().to_arrow().to_pylist()}


def feature_runs(out: Path) -> dict[tuple[date, str], set[str]]:
    table = load_catalog("sql", str(out / "warehouse")).load_table("climate.contour_features")
    rows = table.scan(selected_fields=("day", "variable", "run_id")).to_arrow().to_pylist()
    runs: dict[tuple[date, str], set[str]] = {}
    for r in rows:
        runs.setdefault((r["day"], r["variable"]), set()).add(r["run_id"])
    return runs


def assert_matches_raw(row: dict, values: np.ndarray, lat: np.ndarray) -> None:
    assert row["status"] == OK and row["complete"], row
    for key, want in field_stats(values, lat).items():
        assert row[key] == pytest.approx(want, abs=1e-3), key


def maps(out: Path, variable: str, day: date) -> tuple[Path, Path]:
    return (
        out / "contours" / variable / f"{day}.geojson",
        out / "plots" / variable / f"{day}.png",
    )


def assert_maps(out: Path, present: list[tuple[date, str]], absent: list[tuple[date, str]]):
    """Published maps: the good (day, variable) pairs have both, the others none."""
    for day, v in present:
        geojson, png = maps(out, v, day)
        assert geojson.stat().st_size > 0 and png.read_bytes()[:4] == b"\x89PNG", (day, v)
    for day, v in absent:
        assert not any(p.exists() for p in maps(out, v, day)), (day, v)


def no_staging_left(out: Path) -> bool:
    staging = out / "_staging"
    return not staging.exists() or not any(staging.iterdir())


# --------------------------------------------------------------------------- no input


@pytest.mark.runtime
def test_days_past_the_end_of_the_data_fail_alone(spark, tmp_path):
    """07-05..07-08 on files that end on 07-06 23 UTC: the run commits what it has."""
    inputs = tmp_path / "in"
    t2m = derive(T2M, inputs / "t2m.nc", "2020-07-05T00", "2020-07-06T23")
    derive(TP, inputs / "tp.nc", "2020-07-05T00", "2020-07-06T23")
    out = tmp_path / "out"
    report = run(spark, inputs, out, 5, 8, run_id="past")

    assert report.exit_code == 1
    assert report.status_counts == {OK: 3, INCOMPLETE: 1, FAILED: 4}
    rows = summary_rows(out)
    assert len(rows) == 8
    expected = era5_daily(d(5), T2M, TP)
    for v in ("t2m", "tp"):
        assert_matches_raw(rows[(d(5), v)], expected[v], expected["lat"])
    t2m_6 = era5_daily(d(6), t2m, TP)["t2m"]
    assert_matches_raw(rows[(d(6), "t2m")], t2m_6, expected["lat"])
    tp_6 = rows[(d(6), "tp")]
    assert (tp_6["status"], tp_6["samples"]) == (INCOMPLETE, 23)
    assert "23 of 24" in tp_6["error"]
    for day in (d(7), d(8)):
        for v in ("t2m", "tp"):
            row = rows[(day, v)]
            assert row["status"] == FAILED and row["feature_count"] == 0
            assert f"day {day}, variable {v}: no readable input file holds {v}" in row["error"]
            assert "the inputs hold" in row["error"] and "2020-07-06 23:00" in row["error"]
            assert not any(p.exists() for p in maps(out, v, day))
    assert all(p.exists() for p in maps(out, "t2m", d(6)))
    assert no_staging_left(out)

    # The same gap is accepted when the user says so; the run then exits 0.
    again = run(spark, inputs, out, 7, 7, run_id="allowed", allow_failed_days="true")
    assert again.status_counts == {FAILED: 2} and again.exit_code == 0


@pytest.mark.runtime
def test_file_without_the_variable_fails_that_variable_only(spark, tmp_path):
    inputs = tmp_path / "in"
    derive(T2M, inputs / "t2m_only.nc", "2020-07-01T00", "2020-07-02T23")
    out = tmp_path / "out"
    report = run(spark, inputs, out, 1, 2, run_id="notp")
    assert report.exit_code == 1
    rows = summary_rows(out)
    for day in (d(1), d(2)):
        assert_matches_raw(rows[(day, "t2m")], era5_daily(day, T2M, TP)["t2m"], _lat())
        tp = rows[(day, "tp")]
        assert tp["status"] == FAILED
        assert "no readable input holds tp at all" in tp["error"]
    assert_maps(out, [(d(1), "t2m"), (d(2), "t2m")], [(d(1), "tp"), (d(2), "tp")])


def _lat() -> np.ndarray:
    with xr.open_dataset(T2M) as ds:
        return ds["latitude"].values


# --------------------------------------------------------------------------- units


def relabel(ds: xr.Dataset, variable: str, values, **attrs) -> xr.Dataset:
    """New values for a variable, with its attributes changed (None removes one)."""
    new = {k: v for k, v in {**ds[variable].attrs, **attrs}.items() if v is not None}
    ds[variable] = ds[variable].copy(data=np.asarray(values, dtype=ds[variable].dtype))
    ds[variable].attrs = new
    return ds


def _celsius_without_units(ds: xr.Dataset) -> xr.Dataset:
    return relabel(ds, "t2m", ds["t2m"].values - 273.15, units=None)


def _mm_without_units(ds: xr.Dataset) -> xr.Dataset:
    return relabel(ds, "tp", ds["tp"].values * 1000.0, units=None)


@pytest.mark.runtime
def test_values_without_units_are_refused_unless_assumed(spark, tmp_path):
    inputs = tmp_path / "in"
    t2m = derive(T2M, inputs / "t2m_c.nc", "2020-07-01T00", "2020-07-02T23", _celsius_without_units)
    tp = derive(TP, inputs / "tp_mm.nc", "2020-07-01T00", "2020-07-03T00", _mm_without_units)
    out = tmp_path / "out"
    report = run(spark, inputs, out, 1, 2, run_id="nounits")
    assert report.exit_code == 1 and report.status_counts == {FAILED: 4}
    rows = summary_rows(out)
    for day in (d(1), d(2)):
        for v, path in (("t2m", t2m), ("tp", tp)):
            error = rows[(day, v)]["error"]
            assert str(path) in error and f"day {day}" in error and f"variable {v}" in error
            assert "no units attribute" in error and f"--assume_units {v}=" in error
    assert not (out / "contours").exists()

    report = run(spark, inputs, out, 1, 2, run_id="assumed", assume_units="t2m=degC,tp=mm")
    assert report.exit_code == 0 and report.status_counts == {OK: 4}
    rows = summary_rows(out)
    for day in (d(1), d(2)):
        expected = era5_daily(day, T2M, TP)
        for v in ("t2m", "tp"):
            assert_matches_raw(rows[(day, v)], expected[v], expected["lat"])
            assert rows[(day, v)]["units"] == {"t2m": "degC", "tp": "mm"}[v]
    assert_maps(out, [(day, v) for day in (d(1), d(2)) for v in ("t2m", "tp")], [])


@pytest.mark.runtime
def test_cf_spellings_of_units_are_converted(spark, tmp_path):
    def celsius(ds):
        return relabel(ds, "t2m", ds["t2m"].values - 273.15, units="degree_Celsius")

    def kg_per_m2(ds):
        return relabel(ds, "tp", ds["tp"].values * 1000.0, units="kg m-2")

    inputs = tmp_path / "in"
    derive(T2M, inputs / "t2m.nc", "2020-07-01T00", "2020-07-01T23", celsius)
    derive(TP, inputs / "tp.nc", "2020-07-01T00", "2020-07-02T00", kg_per_m2)
    out = tmp_path / "out"
    report = run(spark, inputs, out, 1, 1, run_id="cf")
    assert report.status_counts == {OK: 2}
    expected = era5_daily(d(1), T2M, TP)
    rows = summary_rows(out)
    for v in ("t2m", "tp"):
        assert_matches_raw(rows[(d(1), v)], expected[v], expected["lat"])


@pytest.mark.runtime
def test_wrong_units_caught_by_the_physical_range(spark, tmp_path):
    """Values under a units attribute that does not fit them: -250 degC, 25 m of rain."""

    def celsius_says_k(ds):
        return relabel(ds, "t2m", ds["t2m"].values - 273.15)  # still says K

    def mm_says_m(ds):
        return relabel(ds, "tp", ds["tp"].values * 1000.0)  # still says m

    inputs = tmp_path / "in"
    bad_t2m = derive(T2M, inputs / "t2m.nc", "2020-07-01T00", "2020-07-01T23", celsius_says_k)
    good_tp = derive(TP, inputs / "tp.nc", "2020-07-01T00", "2020-07-02T00")
    derive(T2M, inputs / "t2m_0702.nc", "2020-07-02T00", "2020-07-02T23")
    bad_tp = derive(TP, inputs / "tp_0702.nc", "2020-07-02T01", "2020-07-03T00", mm_says_m)
    out = tmp_path / "out"
    report = run(spark, inputs, out, 1, 2, run_id="range")
    assert report.exit_code == 1
    assert report.status_counts == {OK: 2, FAILED: 2}
    rows = summary_rows(out)
    error = rows[(d(1), "t2m")]["error"]
    assert rows[(d(1), "t2m")]["status"] == FAILED
    assert "outside the physical range 170..340 K" in error
    assert str(bad_t2m) in error and "day 2020-07-01" in error
    error = rows[(d(2), "tp")]["error"]
    assert rows[(d(2), "tp")]["status"] == FAILED
    assert "outside the physical range -1e-06..1 m" in error
    assert str(bad_tp) in error and "day 2020-07-02" in error
    assert str(good_tp) not in error
    expected = era5_daily(d(1), T2M, TP)
    assert_matches_raw(rows[(d(1), "tp")], expected["tp"], expected["lat"])
    assert_matches_raw(rows[(d(2), "t2m")], era5_daily(d(2), T2M, TP)["t2m"], _lat())
    assert_maps(out, [(d(1), "tp"), (d(2), "t2m")], [(d(1), "t2m"), (d(2), "tp")])


# --------------------------------------------------------------------------- duplicates, grids


@pytest.mark.runtime
def test_duplicates_identical_count_once_and_conflicting_fail_naming_both(spark, tmp_path):
    inputs = tmp_path / "in"
    base = derive(T2M, inputs / "a_t2m.nc", "2020-07-01T00", "2020-07-03T23")
    derive(T2M, inputs / "b_copy_0702.nc", "2020-07-02T00", "2020-07-02T23")

    def revised(ds):
        return relabel(ds, "t2m", ds["t2m"].values + 0.5)

    other = derive(T2M, inputs / "c_revised_0703.nc", "2020-07-03T00", "2020-07-03T23", revised)
    out = tmp_path / "out"
    report = run(spark, inputs, out, 1, 3, variables="t2m", run_id="dups")
    assert report.exit_code == 1
    rows = summary_rows(out)
    for day in (d(1), d(2)):
        assert_matches_raw(rows[(day, "t2m")], era5_daily(day, T2M, TP)["t2m"], _lat())
        assert rows[(day, "t2m")]["samples"] == 24
    failed = rows[(d(3), "t2m")]
    assert failed["status"] == FAILED
    assert "conflicting samples at 2020-07-03T00:00" in failed["error"]
    assert str(base) in failed["error"] and str(other) in failed["error"]
    assert "0.5 K" in failed["error"]
    assert_maps(out, [(d(1), "t2m"), (d(2), "t2m")], [(d(3), "t2m")])


@pytest.mark.runtime
def test_grid_mismatch_names_both_files_and_concerns_only_its_day(spark, tmp_path):
    inputs = tmp_path / "in"
    base = derive(T2M, inputs / "a_t2m.nc", "2020-07-01T00", "2020-07-03T23")

    def subgrid(ds):
        return ds.isel(latitude=slice(0, 10), longitude=slice(0, 12))

    # A sub-grid file for part of 07-02, and one that starts at 07-04 00 UTC.
    sub = derive(T2M, inputs / "b_sub_0702.nc", "2020-07-02T12", "2020-07-02T23", subgrid)
    derive(T2M, inputs / "c_sub_0704.nc", "2020-07-04T00", "2020-07-04T23", subgrid)
    out = tmp_path / "out"
    report = run(spark, inputs, out, 1, 3, variables="t2m", run_id="grids")
    assert report.status_counts == {OK: 2, FAILED: 1}
    rows = summary_rows(out)
    error = rows[(d(2), "t2m")]["error"]
    assert "files on different grids" in error
    assert str(base) in error and str(sub) in error
    assert "49x65 (lat 40..52 step 0.25, lon -6..10 step 0.25)" in error
    assert "10x12 (lat 49.75..52 step 0.25, lon -6..-3.25 step 0.25)" in error
    # 07-03's t2m never reads D+1 00 UTC, so the file starting then does not concern it.
    for day in (d(1), d(3)):
        assert_matches_raw(rows[(day, "t2m")], era5_daily(day, T2M, TP)["t2m"], _lat())
    assert_maps(out, [(d(1), "t2m"), (d(3), "t2m")], [(d(2), "t2m")])


# --------------------------------------------------------------------------- NaN


@pytest.mark.runtime
def test_all_nan_samples_are_missing_and_a_field_nan_everywhere_fails(spark, tmp_path):
    """README: an hour NaN everywhere is a missing sample (the day is incomplete); a daily
    field NaN everywhere (every cell lacks some hour) fails."""

    def nan_day(ds):
        times = ds["valid_time"].values
        day2 = (times >= np.datetime64("2020-07-02")) & (times < np.datetime64("2020-07-03"))
        ds["t2m"][dict(valid_time=np.flatnonzero(day2))] = np.nan
        return ds

    def nan_everywhere_by_cell(ds):
        times = ds["valid_time"].values
        idx = np.flatnonzero(
            (times >= np.datetime64("2020-07-03")) & (times < np.datetime64("2020-07-04"))
        )
        values = ds["t2m"].values
        ny, nx = values.shape[1:]
        cells = np.arange(ny * nx)
        values[idx[cells % 24], cells // nx, cells % nx] = np.nan
        ds["t2m"].values = values
        return ds

    inputs = tmp_path / "in"
    derive(
        T2M,
        inputs / "t2m.nc",
        "2020-07-01T00",
        "2020-07-03T23",
        lambda ds: nan_everywhere_by_cell(nan_day(ds)),
    )
    out = tmp_path / "out"
    report = run(spark, inputs, out, 1, 3, variables="t2m", run_id="nan")
    rows = summary_rows(out)
    assert_matches_raw(rows[(d(1), "t2m")], era5_daily(d(1), T2M, TP)["t2m"], _lat())
    missing = rows[(d(2), "t2m")]
    assert (missing["status"], missing["samples"]) == (INCOMPLETE, 0)
    assert "0 of 24 hourly samples" in missing["error"]
    nan_field = rows[(d(3), "t2m")]
    assert nan_field["status"] == FAILED and "NaN everywhere" in nan_field["error"]
    assert report.day_status == {OK: 1, INCOMPLETE: 1, FAILED: 1}
    assert report.exit_code == 1
    assert_maps(out, [(d(1), "t2m")], [(d(2), "t2m"), (d(3), "t2m")])


# --------------------------------------------------------------------------- reruns, crashes


def linked_inputs(tmp_path: Path) -> Path:
    """The two real July files, linked into a fresh input folder."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in (T2M, TP):
        (inputs / f.name).symlink_to(f)
    return inputs


def _per_day_t2m(inputs: Path, days: range) -> dict[date, Path]:
    return {d(n): derive(T2M, inputs / f"t2m_{d(n)}.nc", f"{d(n)}T00", f"{d(n)}T23") for n in days}


@pytest.mark.runtime
def test_failing_rerun_keeps_the_good_result_and_its_maps(spark, tmp_path):
    inputs = tmp_path / "in"
    files = _per_day_t2m(inputs, range(1, 4))
    (inputs / TP.name).symlink_to(TP)
    out = tmp_path / "out"
    first = run(spark, inputs, out, 1, 3, run_id="first")
    assert first.status_counts == {OK: 6}
    kept_maps = [p.read_bytes() for p in maps(out, "t2m", d(2))]
    kept_row = summary_rows(out)[(d(2), "t2m")]

    bad = files[d(2)]
    bad.write_bytes(bad.read_bytes()[:3000])  # the input is now unreadable
    second = run(spark, inputs, out, 1, 3, run_id="second", t2m_levels="interval:5")
    assert second.exit_code == 1
    assert second.status_counts == {OK: 5, FAILED: 1}
    (failure,) = second.failures
    assert str(bad) in failure and "ok result of run first is kept" in failure

    rows = summary_rows(out)
    assert rows[(d(2), "t2m")] == kept_row
    assert [p.read_bytes() for p in maps(out, "t2m", d(2))] == kept_maps
    runs = feature_runs(out)
    assert runs[(d(2), "t2m")] == {"first"}
    for key in [(d(1), "t2m"), (d(3), "t2m"), (d(2), "tp")]:
        assert rows[key]["run_id"] == "second" and runs[key] == {"second"}
    assert_matches_raw(rows[(d(3), "t2m")], era5_daily(d(3), T2M, TP)["t2m"], _lat())
    assert no_staging_left(out)


@pytest.mark.runtime
def test_a_day_whose_task_dies_fails_alone(spark, tmp_path):
    """The worker processing 07-02 dies (as on an HDF5 crash or the OOM killer)."""
    from era5_contours.run import tasks as days

    def dying(task, ctx):
        if task.day == date(2020, 7, 2):
            os._exit(13)
        return days.process_day(task, ctx)

    out = tmp_path / "out"
    report = run(
        spark, linked_inputs(tmp_path), out, 1, 3, run_id="crash", job={"day_processor": dying}
    )
    assert report.exit_code == 1
    assert report.status_counts == {OK: 4, FAILED: 2}
    rows = summary_rows(out)
    for v in ("t2m", "tp"):
        error = rows[(d(2), v)]["error"]
        assert f"day 2020-07-02, variable {v}: the task processing this day died twice" in error
        assert not any(p.exists() for p in maps(out, v, d(2)))
    for day in (d(1), d(3)):
        expected = era5_daily(day, T2M, TP)
        for v in ("t2m", "tp"):
            assert_matches_raw(rows[(day, v)], expected[v], expected["lat"])
            assert all(p.exists() for p in maps(out, v, day))


@pytest.mark.runtime
def test_batches_overlap_and_a_death_in_a_later_batch_fails_that_day_alone(spark, tmp_path):
    """Batches of two days on two cores: 07-01 is slow, so the next batch's days start
    on the free core before it ends; the worker of 07-04 (second batch) dies."""
    from era5_contours.run import tasks as days

    log = tmp_path / "tasks.log"

    def slow_or_dying(task, ctx):
        if task.day == date(2020, 7, 4):
            os._exit(13)
        start = time.time()
        if task.day == date(2020, 7, 1):
            time.sleep(6.0)
        outcomes = days.process_day(task, ctx)
        with open(log, "a") as fh:
            fh.write(f"{task.day} {start} {time.time()}\n")
        return outcomes

    out = tmp_path / "out"
    job = {"batch_days": 2, "day_processor": slow_or_dying}
    report = run(spark, linked_inputs(tmp_path), out, 1, 5, run_id="batches", job=job)
    assert report.exit_code == 1
    assert report.status_counts == {OK: 8, FAILED: 2}
    rows = summary_rows(out)
    assert all(rows[(d(4), v)]["status"] == FAILED for v in ("t2m", "tp"))
    for day in (d(1), d(2), d(3), d(5)):
        assert all(rows[(day, v)]["status"] == OK for v in ("t2m", "tp"))
    times = {}
    for line in log.read_text().splitlines():
        day, start, end = line.split()
        times.setdefault(day, []).append((float(start), float(end)))
    first_end = max(end for _, end in times["2020-07-01"])
    assert min(start for start, _ in times["2020-07-03"]) < first_end


# --------------------------------------------------------------------------- the job script


def job_command(inputs: Path, out: Path, start: str, end: str, *extra: str) -> list[str]:
    """The job script on local[1], as a user runs it."""
    return [
        sys.executable,
        str(JOB),
        "--master",
        "local[1]",
        "--input_path",
        str(inputs),
        "--output_path",
        str(out),
        "--start_date",
        start,
        "--end_date",
        end,
        *extra,
    ]


JOB_ENV = {**os.environ, "PYSPARK_PYTHON": sys.executable}


@pytest.mark.parametrize("case", ["missing", "empty", "output_is_file", "catalog", "args"])
def test_run_level_problems_give_one_line_and_exit_2(tmp_path, case):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    (inputs / T2M.name).symlink_to(T2M)
    extra: list[str] = []
    expect = {
        "missing": "cannot list the input",
        "empty": "no .nc files under the input",
        "output_is_file": "is not writable",
        "catalog": "cannot open the Iceberg tables",
        "args": "invalid arguments: --end_date 2020-06-30 is before --start_date",
    }[case]
    end = "2020-07-01"
    if case == "missing":
        inputs = tmp_path / "nowhere"
    elif case == "empty":
        inputs = tmp_path / "empty"
        inputs.mkdir()
    elif case == "output_is_file":
        out.write_text("not a folder")
    elif case == "catalog":
        (tmp_path / "warehouse_file").write_text("not a folder")
        extra = ["--warehouse_path", str(tmp_path / "warehouse_file")]
    elif case == "args":
        end = "2020-06-30"
    proc = subprocess.run(
        job_command(inputs, out, "2020-07-01", end, *extra),
        capture_output=True,
        text=True,
        timeout=300,
        env=JOB_ENV,
        cwd=REPO,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert "Traceback" not in text
    errors = [ln for ln in text.splitlines() if " ERROR " in ln]
    assert len(errors) == 1 and expect in errors[0], text
    # Nothing was created in the catalog before the input was listed and the output checked.
    assert not (out / "warehouse" / "catalog.db").exists() or case == "catalog"
    if out.is_dir():
        assert no_staging_left(out)


def test_a_killed_run_leaves_earlier_outputs_and_rows_as_they_were(spark, tmp_path):
    inputs = linked_inputs(tmp_path)
    out = tmp_path / "out"
    first = run(spark, inputs, out, 1, 31, run_id="first", min_samples_per_day="23")
    assert first.status_counts == {OK: 62}
    published = {p: p.read_bytes() for p in (out / "contours").rglob("*.geojson")}
    published.update({p: p.read_bytes() for p in (out / "plots").rglob("*.png")})
    before = summary_rows(out)
    features = load_catalog("sql", str(out / "warehouse")).load_table("climate.contour_features")
    snapshot = features.current_snapshot().snapshot_id

    proc = subprocess.Popen(
        job_command(
            inputs,
            out,
            "2020-07-01",
            "2020-07-31",
            "--min_samples_per_day",
            "23",
            "--t2m_levels",
            "interval:5",  # other levels: a published map of this run would differ
            "--run_id",
            "killed",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=JOB_ENV,
        cwd=REPO,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            staged = list((out / "_staging").rglob("*.geojson"))
            if len(staged) >= 6:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its Spark JVM and workers
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    assert {p: p.read_bytes() for p in published} == published
    now = set((out / "contours").rglob("*.geojson")) | set((out / "plots").rglob("*.png"))
    assert now == set(published)
    assert summary_rows(out) == before
    features = load_catalog("sql", str(out / "warehouse")).load_table("climate.contour_features")
    assert features.current_snapshot().snapshot_id == snapshot
    # What the killed run staged is out of sight, under _staging/ only.
    assert not [p for p in (out / "contours").rglob("*") if p.name.startswith(".")]


def test_a_run_after_a_killed_one_commits_and_publishes(spark, tmp_path):
    """What a killed run left under _staging/ is in nobody's way."""
    inputs = linked_inputs(tmp_path)
    out = tmp_path / "out"
    (out / "_staging" / "old-attempt" / "contours" / "t2m").mkdir(parents=True)
    (out / "_staging" / "old-attempt" / "contours" / "t2m" / "2020-07-01.geojson").write_text("{}")
    report = run(spark, inputs, out, 1, 1, run_id="after")
    assert report.status_counts == {OK: 2}
    expected = era5_daily(d(1), T2M, TP)
    rows = summary_rows(out)
    for v in ("t2m", "tp"):
        assert_matches_raw(rows[(d(1), v)], expected[v], expected["lat"])
    assert (out / "contours" / "t2m" / "2020-07-01.geojson").read_text() != "{}"

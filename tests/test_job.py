"""The Spark job end to end on local Spark, on the real ERA5 France July 2020 files.

Expectations are computed here with xarray directly from the raw files, never with the
library under test.
"""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely
import xarray as xr
from independent import era5_daily, field_stats
from realdata import FRANCE_T2M, FRANCE_TP, require

from era5_common.errors import RunError
from era5_contours.commit import iceberg
from era5_contours.run.config import JobConfig
from era5_contours.run.pipeline import FAILED, OK, run_contour_job
from era5_contours.tables.catalog import load_catalog

pytestmark = [pytest.mark.spark, pytest.mark.realdata, pytest.mark.runtime]

T2M, TP = FRANCE_T2M, FRANCE_TP
REFERENCE_DIR = Path(__file__).resolve().parent / "data"
JULY = [date(2020, 7, 1) + timedelta(days=i) for i in range(31)]


def _need_data():
    require(T2M, TP)


def _tables(warehouse):
    cat = load_catalog("sql", str(warehouse))
    return (
        cat.load_table("climate.contour_features"),
        cat.load_table("climate.daily_summary"),
    )


def _config(input_dir, out, **extra):
    args = {
        "input_path": str(input_dir),
        "output_path": str(out),
        "start_date": "2020-07-01",
        "end_date": "2020-07-31",
        **extra,
    }
    return JobConfig.from_args(args)


@pytest.fixture(scope="module")
def july(spark, tmp_path_factory):
    """The 31 days, t2m and tp from separate files; July 31 tp lacks D+1 00 UTC and is
    accepted with 23 samples through min_samples_per_day."""
    _need_data()
    root = tmp_path_factory.mktemp("july")
    inputs = root / "in"
    inputs.mkdir()
    for f in (T2M, TP):
        (inputs / f.name).symlink_to(f)
    out = root / "out"
    config = _config(inputs, out, min_samples_per_day="23", run_id="first")
    report = run_contour_job(spark, config)
    return {"root": root, "inputs": inputs, "out": out, "report": report, "config": config}


def test_outputs_exist_for_every_day_and_variable(july):
    report = july["report"]
    assert report.days == 31
    assert report.status_counts == {OK: 62}
    assert report.exit_code == 0
    for v in ("t2m", "tp"):
        for day in JULY:
            gj = july["out"] / "contours" / v / f"{day}.geojson"
            png = july["out"] / "plots" / v / f"{day}.png"
            assert gj.stat().st_size > 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            doc = json.loads(gj.read_text())
            assert doc["type"] == "FeatureCollection" and doc["features"]
            assert {f["properties"]["day"] for f in doc["features"]} == {day.isoformat()}
    # No temporary files left next to the outputs.
    leftovers = [p for p in july["out"].rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


def test_daily_summary_matches_independent_computation(july):
    _, summary = _tables(july["out"] / "warehouse")
    rows = {(r["day"], r["variable"]): r for r in summary.scan().to_arrow().to_pylist()}
    assert len(rows) == 62
    for day in (date(2020, 7, 1), date(2020, 7, 14), date(2020, 7, 30)):
        expected = era5_daily(day, T2M, TP)
        for v in ("t2m", "tp"):
            row = rows[(day, v)]
            assert row["status"] == OK and row["complete"] and row["samples"] == 24
            want = field_stats(expected[v], expected["lat"])
            for k, value in want.items():
                assert row[k] == pytest.approx(value, abs=1e-3), (day, v, k)
    last = rows[(date(2020, 7, 31), "tp")]
    assert (last["status"], last["complete"], last["samples"]) == (OK, False, 23)
    assert "23 of 24" in last["error"]
    assert rows[(date(2020, 7, 31), "t2m")]["complete"]
    assert {r["units"] for r in rows.values()} == {"degC", "mm"}
    assert {r["dataset"] for r in rows.values()} == {"era5"}
    assert all(r["run_id"] == "first" for r in rows.values())


#: The daily_summary rows of France July 2020, as every Glue runtime must write them: the
#: main suite and each lane (sh/test_glue_lane.sh: Glue 4.0, 5.0, 5.1, 6.0) compare with
#: this one file, so the runtimes agree row for row, to the last bit of every float.
SUMMARY_REFERENCE = REFERENCE_DIR / "france_2020-07_daily_summary.json"
#: What depends on the run, not on the data: left out of the comparison.
RUN_COLUMNS = ("run_id", "processed_at")


def summary_rows(warehouse) -> list[dict]:
    """daily_summary as JSON-ready rows in (day, variable) order, input files by name,
    without the run's own columns. JSON keeps floats exactly (repr round-trips)."""
    _, summary = _tables(warehouse)
    rows = []
    for row in summary.scan().to_arrow().to_pylist():
        for column in RUN_COLUMNS:
            del row[column]
        row["day"] = row["day"].isoformat()
        row["source_files"] = sorted(f.rsplit("/", 1)[-1] for f in row["source_files"])
        rows.append(row)
    return sorted(rows, key=lambda r: (r["day"], r["variable"]))


def test_daily_summary_is_the_reference_on_every_runtime(july):
    rows = summary_rows(july["out"] / "warehouse")
    if os.environ.get("ERA5_WRITE_REFERENCE") == "1":  # regenerate on purpose only
        SUMMARY_REFERENCE.write_text(json.dumps(rows, indent=1) + "\n")
    reference = json.loads(SUMMARY_REFERENCE.read_text())
    assert len(reference) == 62
    differ = [
        (got["day"], got["variable"], column, got[column], want[column])
        for got, want in zip(rows, reference, strict=True)
        for column in want
        if got[column] != want[column]
    ]
    assert differ == [], f"{len(differ)} values unlike {SUMMARY_REFERENCE.name}: {differ[:12]}"


def test_feature_rows_are_valid_and_cover_every_day(july):
    features, summary = _tables(july["out"] / "warehouse")
    table = features.scan().to_arrow()
    pairs = {
        (d, v) for d, v in zip(table["day"].to_pylist(), table["variable"].to_pylist(), strict=True)
    }
    assert pairs == {(d, v) for d in JULY for v in ("t2m", "tp")}
    geoms = shapely.from_wkt(table["geometry_wkt"].to_pylist())
    assert shapely.is_valid(geoms).all()
    assert shapely.is_simple(geoms).all()
    counts = summary.scan().to_arrow()
    assert pc.sum(counts["feature_count"]).as_py() == table.num_rows == july["report"].features
    # Bands of one day partition the domain: their geodesic areas add up to it.
    day = table.filter(
        pc.and_(pc.equal(table["day"], date(2020, 7, 14)), pc.equal(table["variable"], "tp"))
    )
    bands = day.filter(pc.equal(day["kind"], "band"))
    # Densified so its northern and southern edges follow the parallels, as the bands do.
    domain = shapely.segmentize(shapely.box(-6, 40, 10, 52), 0.05)
    from pyproj import Geod

    domain_km2 = abs(Geod(ellps="WGS84").geometry_area_perimeter(domain)[0]) / 1e6
    assert pc.sum(bands["area_km2"]).as_py() == pytest.approx(domain_km2, rel=1e-3)


def _files_per_partition(table) -> dict[tuple, int]:
    """Live data files per (variable, month), from the manifests' column statistics."""
    from era5_contours.commit.iceberg import _bounds

    counts: dict[tuple, int] = {}
    for task in table.scan().plan_files():
        variable, last_variable = _bounds(task.file, table.schema(), "variable")
        first, last = _bounds(task.file, table.schema(), "day")
        assert variable == last_variable and (first.year, first.month) == (last.year, last.month)
        key = (variable, f"{first:%Y-%m}")
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_each_table_holds_one_file_per_variable_and_month(july):
    for table in _tables(july["out"] / "warehouse"):
        counts = _files_per_partition(table)
        assert counts == {("t2m", "2020-07"): 1, ("tp", "2020-07"): 1}, table.name()
    assert july["report"].table_files == {
        "climate.contour_features": 2,
        "climate.daily_summary": 2,
    }


def test_tasks_ran_on_both_cores(july):
    report = july["report"]
    assert report.workers == 2
    assert report.max_concurrent_tasks == 2


def test_rerun_replaces_rows_without_duplicates(spark, july):
    features, summary = _tables(july["out"] / "warehouse")
    before = (features.scan().to_arrow().num_rows, summary.scan().to_arrow().num_rows)
    config = _config(
        july["inputs"],
        july["out"],
        start_date="2020-07-10",
        end_date="2020-07-12",
        min_samples_per_day="23",
        run_id="rerun",
    )
    report = run_contour_job(spark, config)
    assert report.status_counts == {OK: 6}
    features, summary = _tables(july["out"] / "warehouse")
    f_rows, s_rows = features.scan().to_arrow(), summary.scan().to_arrow()
    assert (f_rows.num_rows, s_rows.num_rows) == before
    rerun_days = {date(2020, 7, d) for d in (10, 11, 12)}
    for r in s_rows.select(["day", "run_id"]).to_pylist():
        assert r["run_id"] == ("rerun" if r["day"] in rerun_days else "first")
    runs = set(f_rows.filter(pc.is_in(f_rows["day"], pa_days(rerun_days)))["run_id"].to_pylist())
    assert runs == {"rerun"}
    # Copy-on-write of the month: still one file per (variable, month) in each table.
    for table in (features, summary):
        assert _files_per_partition(table) == {("t2m", "2020-07"): 1, ("tp", "2020-07"): 1}


def pa_days(days):

    return pa.array(sorted(days), pa.date32())


def test_corrupt_input_fails_that_day_only(spark, tmp_path):
    """One daily t2m file is corrupt: that day fails, names the file, the rest commits."""
    _need_data()
    inputs = tmp_path / "in"
    inputs.mkdir()
    days = [date(2020, 7, d) for d in range(1, 6)]
    with xr.open_dataset(T2M) as t:
        for day in days:
            start = np.datetime64(day.isoformat())
            part = t.sel(valid_time=slice(start, start + np.timedelta64(23, "h"))).load()
            part.to_netcdf(inputs / f"t2m_{day}.nc")
    (inputs / TP.name).symlink_to(TP)
    bad = inputs / "t2m_2020-07-03.nc"
    bad.write_bytes(bad.read_bytes()[:2000])  # truncated mid-transfer
    out = tmp_path / "out"
    config = _config(inputs, out, start_date="2020-07-01", end_date="2020-07-05", run_id="c")
    report = run_contour_job(spark, config)

    assert report.exit_code == 1
    assert report.status_counts == {OK: 9, FAILED: 1}
    _, summary = _tables(out / "warehouse")
    rows = {(r["day"], r["variable"]): r for r in summary.scan().to_arrow().to_pylist()}
    failed = rows[(date(2020, 7, 3), "t2m")]
    assert failed["status"] == FAILED
    for needle in (str(bad), "2020-07-03", "t2m"):
        assert needle in failed["error"]
    assert failed["feature_count"] == 0 and failed["field_mean"] is None
    assert all(r["status"] == OK for k, r in rows.items() if k != (date(2020, 7, 3), "t2m"))
    assert not (out / "contours" / "t2m" / "2020-07-03.geojson").exists()
    assert (out / "contours" / "t2m" / "2020-07-04.geojson").exists()
    assert any(str(bad) in f for f in report.failures)


def test_failed_commit_leaves_both_tables_as_they_were(spark, tmp_path, monkeypatch):
    """The daily_summary commit fails after contour_features committed: a compensating
    commit gives contour_features its rows and files from before the run, and a later run
    goes through."""
    _need_data()
    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in (T2M, TP):
        (inputs / f.name).symlink_to(f)
    out = tmp_path / "out"
    days = {"start_date": "2020-07-01", "end_date": "2020-07-02"}
    run_contour_job(spark, _config(inputs, out, run_id="good", **days))
    published = {p: p.read_bytes() for p in out.rglob("*") if p.suffix in (".geojson", ".png")}
    assert len(published) == 8
    features, summary = _tables(out / "warehouse")
    before = {
        "features": (_live_files(features), features.scan().to_arrow()),
        "summary": (_live_files(summary), summary.scan().to_arrow()),
    }

    real_commit = iceberg.commit_replace

    def failing_commit(table, files, replace, **kw):
        if table.name()[-1] == "daily_summary":
            raise RuntimeError("catalog unavailable")
        return real_commit(table, files, replace, **kw)

    monkeypatch.setattr(iceberg, "commit_replace", failing_commit)
    with pytest.raises(RunError, match="catalog unavailable"):
        # Other levels: had this run published its maps, they would differ.
        run_contour_job(spark, _config(inputs, out, run_id="bad", t2m_levels="interval:5", **days))
    monkeypatch.setattr(iceberg, "commit_replace", real_commit)
    now = {p: p.read_bytes() for p in out.rglob("*") if p.suffix in (".geojson", ".png")}
    assert now == published
    assert not any((out / "_staging").iterdir())

    features, summary = _tables(out / "warehouse")
    for name, table in (("features", features), ("summary", summary)):
        files, rows = before[name]
        assert _live_files(table) == files
        keys = ["day", "variable"] + (
            ["kind", "band_index", "part_index"] if name == "features" else []
        )
        assert _sorted_rows(table.scan().to_arrow(), keys) == _sorted_rows(rows, keys)
        assert set(table.scan().to_arrow()["run_id"].to_pylist()) == {"good"}

    report = run_contour_job(spark, _config(inputs, out, run_id="after", **days))
    assert report.status_counts == {OK: 4}
    features, summary = _tables(out / "warehouse")
    assert set(summary.scan().to_arrow()["run_id"].to_pylist()) == {"after"}
    assert features.scan().to_arrow().num_rows == before["features"][1].num_rows


def _live_files(table) -> set[str]:
    return {t.file.file_path for t in table.scan().plan_files()}


def _rows_by_field_id(table) -> pa.Table:
    """The table's rows read from its data files with plain pyarrow, columns resolved by
    their Parquet field ids alone (the names in the files are thrown away first)."""
    import pyarrow.parquet as pq

    names = {f.field_id: f.name for f in table.schema().fields}
    parts = []
    for task in table.scan().plan_files():
        assert not task.delete_files  # copy-on-write: the live rows are the files' rows
        # One file, not a dataset: no partition columns inferred from its folder names.
        data = pq.ParquetFile(task.file.file_path.removeprefix("file://")).read()
        ids = [int(f.metadata[b"PARQUET:field_id"]) for f in data.schema]
        data = data.rename_columns([f"col{i}" for i in range(data.num_columns)])
        parts.append(data.rename_columns([names[i] for i in ids]))
    return pa.concat_tables(parts).select([f.name for f in table.schema().fields])


def _sorted_rows(table: pa.Table, keys: list[str]) -> list[dict]:
    return table.sort_by([(k, "ascending") for k in keys]).to_pylist()


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        (
            "contour_features",
            ["day", "variable", "kind", "band_index", "part_index", "geometry_wkt"],
        ),
        ("daily_summary", ["day", "variable"]),
    ],
)
def test_three_readers_agree_on_both_tables(july, name, keys):
    """pyiceberg, DuckDB's iceberg_scan and plain pyarrow by field id see the same rows."""

    from era5_tools import localquery

    cat = load_catalog("sql", str(july["out"] / "warehouse"))
    table = cat.load_table(f"climate.{name}")
    schema = table.schema().as_arrow()
    iceberg = table.scan().to_arrow().cast(schema)
    by_id = _rows_by_field_id(table).cast(schema)
    duck = localquery.connect_local(cat, "climate")
    duckdb_rows = duck.execute(f"SELECT * FROM climate.{name}").arrow()
    if isinstance(duckdb_rows, pa.RecordBatchReader):
        duckdb_rows = duckdb_rows.read_all()
    duckdb_rows = duckdb_rows.select(schema.names).cast(schema)
    assert iceberg.num_rows > 0 and iceberg.column("day").null_count == 0
    expected = _sorted_rows(iceberg, keys)
    assert _sorted_rows(by_id, keys) == expected
    assert _sorted_rows(duckdb_rows, keys) == expected


def test_every_data_file_carries_the_tables_field_ids(july):
    import pyarrow.parquet as pq

    cat = load_catalog("sql", str(july["out"] / "warehouse"))
    for name in ("contour_features", "daily_summary"):
        table = cat.load_table(f"climate.{name}")
        want = {f.name: f.field_id for f in table.schema().fields}
        assert table.properties.get("schema.name-mapping.default") is None
        for task in table.scan().plan_files():
            schema = pq.read_schema(task.file.file_path.removeprefix("file://"))
            assert {f.name: int(f.metadata[b"PARQUET:field_id"]) for f in schema} == want

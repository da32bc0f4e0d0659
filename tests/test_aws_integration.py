"""The job on AWS endpoints: S3 input and output, Iceberg tables in the Glue catalog.

moto runs in server mode on 127.0.0.1, so the Spark executors (separate processes) reach
it as they would reach AWS. The real ERA5 France files are uploaded to S3, the job runs on
s3:// paths with the glue catalog, and everything is read back with pyiceberg and boto3.
Expectations come from xarray on the raw files.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, timedelta

import pytest
import shapely
from independent import era5_daily, field_stats
from moto_support import CREDENTIALS, moto_server
from realdata import FRANCE_T2M, FRANCE_TP, require

pytestmark = [
    pytest.mark.integration,
    pytest.mark.spark,
    pytest.mark.realdata,
    pytest.mark.runtime,
]

T2M, TP = FRANCE_T2M, FRANCE_TP
DAYS = [date(2020, 7, 1) + timedelta(days=i) for i in range(4)]


@pytest.fixture(scope="module")
def aws():
    """A moto server and the environment that points boto3 and pyarrow at it."""
    require(T2M, TP)
    pytest.importorskip("moto.server", reason="moto[server] not installed")
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def spark(aws):
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from era5_contours.run.spark import local_spark_session

    # Executors get the credentials as they would get an instance role's on Glue; the
    # endpoint comes from the job's --aws_endpoint_url option.
    conf = {f"spark.executorEnv.{k}": v for k, v in CREDENTIALS.items()}
    session = local_spark_session("local[2]", "era5-contours-aws", conf=conf)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def s3_run(aws, spark):
    import boto3

    from era5_contours.run.config import JobConfig
    from era5_contours.run.pipeline import run_contour_job

    s3 = boto3.client("s3", endpoint_url=aws)
    for bucket in ("era5-raw", "era5-out"):
        s3.create_bucket(Bucket=bucket)
    for f in (T2M, TP):
        s3.upload_file(str(f), "era5-raw", f"hourly/2020/{f.name}")

    def run(start: date, end: date, run_id: str):
        config = JobConfig.from_args(
            {
                "input_path": "s3://era5-raw/hourly/",
                "output_path": "s3://era5-out/contours",
                "warehouse_path": "s3://era5-out/warehouse",
                "catalog_type": "glue",
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "run_id": run_id,
                "aws_endpoint_url": aws,
            }
        )
        return run_contour_job(spark, config)

    report = run(DAYS[0], DAYS[-1], "s3-first")
    return {"s3": s3, "report": report, "run": run, "endpoint": aws}


def _tables(endpoint):
    from era5_contours.tables.catalog import load_catalog

    cat = load_catalog(
        "glue", "s3://era5-out/warehouse", glue_endpoint=endpoint, s3_endpoint=endpoint
    )
    return cat.load_table("climate.contour_features"), cat.load_table("climate.daily_summary")


def test_outputs_are_s3_objects_with_content_types(s3_run):
    report = s3_run["report"]
    assert report.status_counts == {"ok": 8} and report.exit_code == 0
    s3 = s3_run["s3"]
    for v in ("t2m", "tp"):
        for day in DAYS:
            gj = s3.get_object(Bucket="era5-out", Key=f"contours/contours/{v}/{day}.geojson")
            assert gj["ContentType"] == "application/geo+json"
            doc = json.loads(gj["Body"].read())
            assert doc["type"] == "FeatureCollection" and doc["features"]
            assert {f["properties"]["variable"] for f in doc["features"]} == {v}
            png = s3.get_object(Bucket="era5-out", Key=f"contours/plots/{v}/{day}.png")
            assert png["ContentType"] == "image/png"
            assert png["Body"].read()[:8] == b"\x89PNG\r\n\x1a\n"


def test_glue_catalog_tables_match_independent_computation(s3_run):
    features, summary = _tables(s3_run["endpoint"])
    assert features.location() == "s3://era5-out/warehouse/climate.db/contour_features"
    rows = {(r["day"], r["variable"]): r for r in summary.scan().to_arrow().to_pylist()}
    assert set(rows) == {(d, v) for d in DAYS for v in ("t2m", "tp")}
    for day in DAYS:
        expected = era5_daily(day, T2M, TP)
        for v in ("t2m", "tp"):
            row = rows[(day, v)]
            assert row["status"] == "ok" and row["complete"] and row["samples"] == 24
            for k, value in field_stats(expected[v], expected["lat"]).items():
                assert row[k] == pytest.approx(value, abs=1e-3), (day, v, k)
            assert row["source_files"] == [
                f"s3://era5-raw/hourly/2020/{(T2M if v == 't2m' else TP).name}"
            ]
    table = features.scan().to_arrow()
    pairs = set(zip(table["day"].to_pylist(), table["variable"].to_pylist(), strict=True))
    assert pairs == set(rows)
    geoms = shapely.from_wkt(table["geometry_wkt"].to_pylist())
    assert shapely.is_valid(geoms).all() and shapely.is_simple(geoms).all()
    data_files = {t.file.file_path for t in features.scan().plan_files()}
    assert data_files and all(p.startswith("s3://era5-out/warehouse/") for p in data_files)


def test_rerun_on_s3_replaces_rows(s3_run):
    features, summary = _tables(s3_run["endpoint"])
    before = (features.scan().to_arrow().num_rows, summary.scan().to_arrow().num_rows)
    report = s3_run["run"](DAYS[1], DAYS[2], "s3-rerun")
    assert report.status_counts == {"ok": 4}
    features, summary = _tables(s3_run["endpoint"])
    s_rows = summary.scan().to_arrow()
    assert (features.scan().to_arrow().num_rows, s_rows.num_rows) == before
    run_ids = {(r["day"], r["run_id"]) for r in s_rows.select(["day", "run_id"]).to_pylist()}
    assert run_ids == {(d, "s3-rerun" if d in (DAYS[1], DAYS[2]) else "s3-first") for d in DAYS}


def test_nothing_staged_is_left_on_s3(s3_run):
    listed = s3_run["s3"].list_objects_v2(Bucket="era5-out", Prefix="contours/_staging/")
    assert listed.get("KeyCount", 0) == 0


def test_day_past_the_data_fails_alone_on_s3(s3_run):
    """07-31 and 08-01 on July files: 08-01 has no input, the rest commits."""
    report = s3_run["run"](date(2020, 7, 31), date(2020, 8, 1), "s3-past")
    assert report.exit_code == 1
    assert report.status_counts == {"ok": 1, "incomplete": 1, "failed": 2}
    _, summary = _tables(s3_run["endpoint"])
    rows = {(r["day"], r["variable"]): r for r in summary.scan().to_arrow().to_pylist()}
    assert rows[(date(2020, 7, 31), "t2m")]["status"] == "ok"
    assert rows[(date(2020, 7, 31), "tp")]["status"] == "incomplete"
    for v in ("t2m", "tp"):
        assert "no readable input file holds" in rows[(date(2020, 8, 1), v)]["error"]
    s3 = s3_run["s3"]
    s3.head_object(Bucket="era5-out", Key="contours/contours/t2m/2020-07-31.geojson")
    missing = s3.list_objects_v2(Bucket="era5-out", Prefix="contours/contours/t2m/2020-08-01")
    assert missing.get("KeyCount", 0) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"input_path": "s3://era5-raw/nothing-here/"}, "no .nc files under the input"),
        ({"output_path": "s3://no-such-bucket/contours"}, "is not writable"),
    ],
)
def test_run_level_problems_on_s3_change_nothing(s3_run, spark, change, message):
    from era5_common.errors import RunError
    from era5_contours.run.config import JobConfig
    from era5_contours.run.pipeline import run_contour_job

    features, summary = _tables(s3_run["endpoint"])
    snapshots = (features.current_snapshot().snapshot_id, summary.current_snapshot().snapshot_id)
    args = {
        "input_path": "s3://era5-raw/hourly/",
        "output_path": "s3://era5-out/contours",
        "warehouse_path": "s3://era5-out/warehouse",
        "catalog_type": "glue",
        "start_date": "2020-07-01",
        "end_date": "2020-07-02",
        "aws_endpoint_url": s3_run["endpoint"],
        **change,
    }
    with pytest.raises(RunError, match=message):
        run_contour_job(spark, JobConfig.from_args(args))
    features, summary = _tables(s3_run["endpoint"])
    assert (
        features.current_snapshot().snapshot_id,
        summary.current_snapshot().snapshot_id,
    ) == snapshots

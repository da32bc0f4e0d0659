"""Ingest to S3 with the CDS key in Secrets Manager (moto server), then the contour job on it.

moto runs in server mode on 127.0.0.1 (Spark executors are separate processes), the fake
CDS beside it. The ingest reads its key from a moto secret and writes two months to
``s3://``; the contour job then takes ``{output_path}/era5`` as its input. Its daily
values are checked against the same job run on the archive's own files and against
xarray on those files directly; days at the month boundary and the last day of the range
(whose tp needs the 1 Sep 00 UTC sample) are among them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from fake_cds import KEY, Archive, FakeCDS
from independent import field_stats
from ingest_support import JOB, job_args, sample_archive
from moto_support import CREDENTIALS, threaded_moto

from era5_common.env import patched_environ
from era5_ingest.manifest import Manifest

sys.path.insert(0, str(JOB.parent))
import ingest_era5

pytestmark = [pytest.mark.integration, pytest.mark.spark]
pytest.importorskip("ecmwf.datastores", reason="the ingest extra is not installed")

SECRET = "era5-contours/cds-api-key"
#: (first, last) day ranges of the contour runs: across the month boundary, and the last
#: day of the ingested range.
RANGES = [(date(2020, 7, 31), date(2020, 8, 1)), (date(2020, 8, 31), date(2020, 8, 31))]
DAYS = [a + timedelta(days=i) for a, b in RANGES for i in range((b - a).days + 1)]


@pytest.fixture(scope="module")
def aws():
    pytest.importorskip("moto.server", reason="moto[server] not installed")
    changes = {**CREDENTIALS, "AWS_PROFILE": None, "CDSAPI_URL": None, "CDSAPI_KEY": None}
    # No rc file either: the key can only come from the secret.
    changes["CDSAPI_RC"] = "/nonexistent/.cdsapirc"
    with threaded_moto() as endpoint, patched_environ({**changes, "AWS_ENDPOINT_URL": endpoint}):
        yield endpoint


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("source")
    sample_archive(folder)
    return folder


@pytest.fixture(scope="module")
def ingested(aws, source):
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws)
    s3.create_bucket(Bucket="era5-raw")
    secrets = boto3.client("secretsmanager", endpoint_url=aws)
    with FakeCDS(Archive(sorted(source.glob("*.nc")))) as cds:
        secrets.create_secret(Name=SECRET, SecretString=json.dumps({"url": cds.url, "key": KEY}))
        argv = [
            *job_args("s3://era5-raw/hourly"),
            "--cds_secret_id",
            SECRET,
            "--aws_endpoint_url",
            aws,
        ]
        first = ingest_era5.main(argv)
        asked_first = len(cds.submissions)
        second = ingest_era5.main(argv)
        asked_second = len(cds.submissions) - asked_first
    return {"s3": s3, "codes": (first, second), "asked": (asked_first, asked_second)}


def test_months_on_s3_with_the_key_from_secrets_manager(ingested):
    assert ingested["codes"] == (0, 0)
    # Three requests the first time (two months, 1 Sep 00 UTC); none for the rerun.
    assert ingested["asked"] == (3, 0)
    s3 = ingested["s3"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="era5-raw")["Contents"])
    assert keys == [
        "hourly/era5/2020/07/_manifest.json",
        "hourly/era5/2020/07/era5_2020-07_t2m.nc",
        "hourly/era5/2020/07/era5_2020-07_tp.nc",
        "hourly/era5/2020/08/_manifest.json",
        "hourly/era5/2020/08/era5_2020-08_t2m.nc",
        "hourly/era5/2020/08/era5_2020-08_tp.nc",
        "hourly/era5/2020/08/era5_2020-09-01T00_tp.nc",
    ]
    for month in ("07", "08"):
        body = s3.get_object(Bucket="era5-raw", Key=f"hourly/era5/2020/{month}/_manifest.json")
        manifest = Manifest.loads(body["Body"].read())
        assert manifest.status == "complete"
        for entry in manifest.files:
            obj = s3.get_object(Bucket="era5-raw", Key=f"hourly/era5/2020/{month}/{entry.name}")
            data = obj["Body"].read()
            assert obj["ContentType"] == "application/x-netcdf"
            assert (len(data), hashlib.sha256(data).hexdigest()) == (entry.size, entry.sha256)


@pytest.fixture(scope="module")
def spark(aws):
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from era5_contours.run.spark import local_spark_session

    conf = {f"spark.executorEnv.{k}": v for k, v in CREDENTIALS.items()}
    session = local_spark_session("local[2]", "era5-ingest-aws", conf=conf)
    yield session
    session.stop()


def contour_rows(spark, input_path: str, out: Path, endpoint: str) -> dict:
    from era5_contours.run.config import JobConfig
    from era5_contours.run.pipeline import run_contour_job
    from era5_contours.tables.catalog import load_catalog

    for index, (first, last) in enumerate(RANGES):
        config = JobConfig.from_args(
            {
                "input_path": input_path,
                "output_path": str(out),
                "start_date": first.isoformat(),
                "end_date": last.isoformat(),
                # Bands only: isolines and maps add time, not evidence, here.
                "plots": "false",
                "lines": "false",
                "run_id": f"run-{index}",
                "aws_endpoint_url": endpoint,
            }
        )
        report = run_contour_job(spark, config)
        assert report.exit_code == 0, report.text()
    table = load_catalog("sql", str(out / "warehouse")).load_table("climate.daily_summary")
    return {(r["day"], r["variable"]): r for r in table.scan().to_arrow().to_pylist()}


def independent_daily(day: date, source: Path) -> dict[str, np.ndarray]:
    """Daily mean t2m (degC) and ERA5 total tp (mm) with xarray, over the monthly files."""
    start = np.datetime64(day.isoformat())
    out = {}
    for name, pattern in (("t2m", "*_instant_t2m.nc"), ("tp", "*_accum_tp.nc")):
        parts = []
        for path in sorted(source.glob(pattern)):
            with xr.open_dataset(path) as ds:
                parts.append(ds[name].load())
        values = xr.concat(parts, "valid_time")
        times = values["valid_time"].values
        if name == "t2m":
            mask = (times >= start) & (times < start + np.timedelta64(24, "h"))
            assert mask.sum() == 24
            out[name] = (
                values.isel(valid_time=np.flatnonzero(mask)).mean("valid_time").values - 273.15
            )
        else:
            mask = (times > start) & (times <= start + np.timedelta64(24, "h"))
            assert mask.sum() == 24
            out[name] = (
                values.isel(valid_time=np.flatnonzero(mask)).sum("valid_time").values * 1000.0
            )
        out["lat"] = values["latitude"].values
    return out


def test_the_contour_job_reads_the_ingested_months_as_its_input(
    ingested, spark, aws, source, tmp_path
):
    from_ingest = contour_rows(spark, "s3://era5-raw/hourly/era5/", tmp_path / "a", aws)
    from_source = contour_rows(spark, str(source), tmp_path / "b", aws)
    assert set(from_ingest) == set(from_source) == {(d, v) for d in DAYS for v in ("t2m", "tp")}
    stats = ("field_min", "field_mean", "field_mean_weighted", "field_max", "feature_count")
    for key, row in from_ingest.items():
        assert (row["status"], row["complete"], row["samples"]) == ("ok", True, 24), key
        assert row["dataset"] == "era5"
        assert {k: row[k] for k in stats} == {k: from_source[key][k] for k in stats}, key
    for day in DAYS:
        expected = independent_daily(day, source)
        for v in ("t2m", "tp"):
            row = from_ingest[(day, v)]
            for k, value in field_stats(expected[v], expected["lat"]).items():
                assert row[k] == pytest.approx(value, abs=1e-3), (day, v, k)

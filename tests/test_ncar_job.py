"""The job on the NSF NCAR copy's layout: by name, unsigned, through faults, cut to an area.

A moto server holds files in the copy's exact layout (tests/ncar_layout.py, built from the
real France July 2020 files) in a bucket named ``nsf-ncar-era5``, public; the job reads
``s3://nsf-ncar-era5`` with no credentials anywhere (driver and executors), through a
fault-injecting proxy that counts what it serves. Daily values are checked against xarray
on the CDS originals; the bytes fetched against the chunks the area's samples occupy,
measured with h5py.
"""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import pytest
from independent import era5_daily, field_stats
from ncar_layout import BUCKET, area_chunk_bytes, build
from realdata import FRANCE_T2M, FRANCE_TP, require

from era5_common.area import Area
from era5_common.errors import RunError
from era5_tools.s3proxy import Fault, Placement, measure_job_reads

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.realdata, pytest.mark.runtime]
pytest.importorskip("moto.server", reason="moto[server] not installed")

DAYS = [date(2020, 7, 1), date(2020, 7, 15), date(2020, 7, 16), date(2020, 7, 30)]
FRANCE = Area(52.0, -6.0, 40.0, 10.0)
OPTIONS = {"plots": "false", "lines": "false"}


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """Local Spark whose executors have no AWS credentials at all."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    from era5_contours.run.spark import local_spark_session

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    workers_tmp = tmp_path_factory.mktemp("workers-tmp")
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    conf = {
        "spark.executorEnv.TMPDIR": str(workers_tmp),
        "spark.executorEnv.ERA5_S3_RETRY": "tries=8,base=0.01,cap=0.05",
        "spark.executorEnv.AWS_DEFAULT_REGION": "us-east-1",
        "spark.executorEnv.AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert name not in os.environ or not os.environ[name], name
    session = local_spark_session("local[2]", "era5-contours-ncar", conf=conf)
    yield session
    session.stop()


def _copy(folder: Path, **kwargs) -> tuple[list[Path], Placement]:
    require(FRANCE_T2M, FRANCE_TP)
    files = build(folder, days=DAYS, tp_as="lsp+cp", **kwargs)
    keys = {str(p): str(p.relative_to(folder)) for p in files}
    placement = Placement(BUCKET, keys, f"s3://{BUCKET}", public=True, signed=False)
    return files, placement


def _rows(out: Path) -> dict:
    from era5_contours.tables.catalog import load_catalog

    table = load_catalog("sql", str(out / "warehouse")).load_table("climate.daily_summary")
    return {(r["day"], r["variable"]): r for r in table.scan().to_arrow().to_pylist()}


def _assert_france_values(rows: dict, days=DAYS) -> None:
    for day in days:
        expected = era5_daily(day, FRANCE_T2M, FRANCE_TP)
        for v in ("t2m", "tp"):
            row = rows[(day, v)]
            assert row["status"] == "ok", (day, v, row["error"])
            for k, value in field_stats(expected[v], expected["lat"]).items():
                assert row[k] == pytest.approx(value, abs=1e-4), (day, v, k)


def _run(spark, files, placement, out, days=(DAYS[0], DAYS[-1]), faults=(), **options):
    env = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
    saved = {k: os.environ.pop(k, None) for k in env}
    try:
        return measure_job_reads(
            spark,
            files,
            days[0],
            days[-1],
            out,
            run_id="ncar",
            options={**OPTIONS, **options},
            faults=faults,
            placement=placement,
        )
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})


def test_the_copy_is_read_by_name_unsigned_and_through_faults(spark, tmp_path):
    files, placement = _copy(tmp_path / "copy")
    faults = [
        Fault("503", on="get", every=5),
        Fault("500", on="get", every=7),
        Fault("cut", on="get", every=4, cut_after=0.4),
        Fault("500", on="head", every=5),
    ]
    m = _run(spark, files, placement, tmp_path / "out", faults=faults)
    report = m["report"]
    # Days 1..30 asked, 4 written: the other days lack samples and are incomplete.
    rows = _rows(tmp_path / "out")
    _assert_france_values(rows)
    assert {r["status"] for (d, _), r in rows.items() if d not in DAYS} == {"incomplete"}
    played = m["faults"]
    assert played.get("503", 0) and played.get("500", 0) and played.get("cut", 0), played
    # Unsigned, by name: not one signed request, not one listing of the bucket.
    assert m["signing"]["signed"] == 0 and m["signing"]["unsigned"] > 0, m["signing"]
    assert report.status_counts.get("failed", 0) == 0


def test_an_area_of_the_global_copy_reads_only_its_chunks(spark, tmp_path):
    files, placement = _copy(tmp_path / "copy", grid="global")
    days = [DAYS[1], DAYS[2]]  # the 15th and 16th: the runs of two half-month files
    m = _run(spark, files, placement, tmp_path / "out", days=days, area=FRANCE.text())
    rows = _rows(tmp_path / "out")
    _assert_france_values(rows, days)
    floor = area_chunk_bytes(files, FRANCE, days)
    fetched = m["planning"]["bytes"] + m["days"]["bytes"]
    ratio = fetched / floor
    print(
        f"area chunks {floor:,} bytes, fetched {fetched:,} (planning {m['planning']['bytes']:,}): x{ratio:.3f}"
    )
    assert 1.0 <= ratio <= 1.25, (fetched, floor)
    # Far below the files' size: the rest of the globe is never read.
    assert fetched < 0.5 * sum(p.stat().st_size for p in files)


def test_a_missing_half_month_file_names_the_days_it_costs(spark, tmp_path):
    files, placement = _copy(tmp_path / "copy")
    gone = next(p for p in files if "128_142_lsp" in p.name and ".2020070106_" in p.name)
    files = [p for p in files if p != gone]
    days = [date(2020, 7, 15), date(2020, 7, 16)]
    m = _run(spark, files, placement, tmp_path / "out", days=days)
    rows = _rows(tmp_path / "out")
    # The 15th's tp needs the first half of July; the 16th's needs its 15th 18 UTC run too.
    for day in days:
        row = rows[(day, "tp")]
        assert row["status"] == "failed" and gone.name in row["error"], row["error"]
        assert "not in the NSF NCAR copy" in row["error"]
        assert rows[(day, "t2m")]["status"] == "ok"
    assert m["report"].exit_code == 1


def test_an_area_that_misses_the_grid_is_a_run_error(spark, tmp_path):
    files, placement = _copy(tmp_path / "copy")
    with pytest.raises(RunError, match="holds no cell of any input's grid"):
        _run(spark, files, placement, tmp_path / "out", area="-30,100,-40,120")

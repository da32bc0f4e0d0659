"""S3 faults survived: 503s, 500s, stalls and bodies cut mid-way, between reader and moto.

A moto server holds the real France July 2020 files; a fault-injecting proxy
(era5_tools.s3proxy) sits between it and the library and plays S3's faults on chosen
requests. Values read through faults equal the same files read locally; a read that
fails on every try names the object, the fault and the number of tries. Then anonymous
reads: the NSF NCAR bucket's name read with no credentials anywhere, unsigned.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import date

import numpy as np
import pytest
from moto_support import threaded_moto
from realdata import FRANCE_T2M, FRANCE_TP, require

from era5_common import storage
from era5_common.errors import InputError
from era5_contours.inputs import netcdf, remote, samples
from era5_tools.s3proxy import CountingProxy, Fault

pytest.importorskip("moto.server", reason="moto[server] not installed")

pytestmark = [pytest.mark.realdata, pytest.mark.runtime]

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "era5-faults"
#: Few, fast tries: a fault-free try follows every injected fault in these tests.
RETRY = "tries=5,base=0.01,cap=0.05"
#: A connection reset in a body: botocore >= 1.29 wraps urllib3's error, Glue 4.0's 1.27
#: lets it out as it is.
BROKEN = "ResponseStreamingError|ProtocolError"
#: Any cut: a short body (an orderly close) or a broken one (a reset).
CUT = f"IncompleteRead|{BROKEN}"


def uri(path, bucket=BUCKET):
    return f"s3://{bucket}/in/{path.name}"


def key(path):
    return f"in/{path.name}"


@pytest.fixture(scope="module")
def moto_endpoint():
    require(FRANCE_T2M, FRANCE_TP)
    import boto3

    with threaded_moto() as endpoint:
        admin = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for bucket in (BUCKET, "nsf-ncar-era5", "era5-private"):
            admin.create_bucket(Bucket=bucket)
        for f in (FRANCE_T2M, FRANCE_TP):
            admin.upload_file(str(f), BUCKET, key(f))
        yield endpoint, admin


@pytest.fixture
def proxy(moto_endpoint, monkeypatch, tmp_path):
    """A fault-injecting proxy in front of moto, the library pointed at it."""
    endpoint, _ = moto_endpoint
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # Set, not deleted, so that what a test sets is undone after it.
    monkeypatch.setenv(storage.ANONYMOUS_ENV, "")
    monkeypatch.setenv("ERA5_S3_RETRY", RETRY)
    monkeypatch.setattr(remote.tempfile, "gettempdir", lambda: str(tmp_path))
    counting = CountingProxy(endpoint, BUCKET)
    monkeypatch.setenv("AWS_ENDPOINT_URL", counting.start())
    storage._local.s3 = None
    yield counting
    counting.stop()
    storage._local.s3 = None
    remote._leave()


def _same_day(sources, day):
    got = samples.load_day(sources, day, ["t2m", "tp"])
    want = samples.load_day([FRANCE_T2M, FRANCE_TP], day, ["t2m", "tp"])
    for v in ("t2m", "tp"):
        assert np.array_equal(got[v].values, want[v].values, equal_nan=True), (day, v)


def test_503s_500s_and_cut_connections_are_survived_with_values_unchanged(proxy):
    before = storage.survived()
    proxy.inject(
        Fault("503", on="get", every=3),
        Fault("500", on="get", ranged=True, first=2),
        Fault("cut", on="get", every=4, cut_after=0.4),
        Fault("cut", on="get", every=3, cut_after=0.7, reset=True),
        Fault("500", on="head", first=1),
    )
    # Planning (metadata and time axis), then three days, a folder per run as the job has.
    for f in (FRANCE_T2M, FRANCE_TP):
        assert netcdf.file_time_range(netcdf.source_for(uri(f))) == netcdf.file_time_range(f)
    sources = [netcdf.source_for(uri(f), "run-faults") for f in (FRANCE_T2M, FRANCE_TP)]
    for day in (date(2020, 7, 1), date(2020, 7, 15), date(2020, 7, 30)):
        _same_day(sources, day)
    played = proxy.faults()
    assert played["503"] >= 1 and played["500"] == 3 and played["cut"] >= 1, played
    survived = {k: v - before.get(k, 0) for k, v in storage.survived().items()}
    assert survived.get("503 SlowDown", 0) == played["503"]
    assert survived.get("500 InternalError", 0) == 2  # the HEAD's 500 carries no code
    assert survived.get("500", 0) == 1
    # A cut with an orderly close is a short body; with a reset, a broken stream.
    cuts = {k: v for k, v in survived.items() if re.search(CUT, k)}
    assert sum(cuts.values()) == played["cut"], survived
    assert len(cuts) == 2, cuts


def test_a_cut_body_is_resumed_from_its_first_missing_byte(proxy):
    obj = remote.head(uri(FRANCE_TP))
    proxy.inject(Fault("cut", on="get", key=key(FRANCE_TP), first=2, cut_after=100_000))
    data = remote.fetch_range(obj, 1000, 1_001_000)
    assert data == FRANCE_TP.read_bytes()[1000:1_001_000]
    ranges = [r for kind, k, r in proxy.requests() if kind == "get"]
    # Each try asks for the bytes still missing only, 100 000 more each time.
    assert ranges == ["bytes=1000-1000999", "bytes=101000-1000999", "bytes=201000-1000999"]
    assert proxy.faults() == {"cut": 2}


def test_a_stall_is_a_timeout_and_is_survived(proxy, monkeypatch):
    monkeypatch.setenv("ERA5_S3_READ_TIMEOUT", "1")
    obj = remote.head(uri(FRANCE_T2M))
    proxy.inject(Fault("stall", on="get", first=1, stall_seconds=10))
    before = storage.survived().get("ReadTimeoutError", 0)
    assert remote.fetch_range(obj, 0, 50_000) == FRANCE_T2M.read_bytes()[:50_000]
    assert proxy.faults() == {"stall": 1}
    assert storage.survived().get("ReadTimeoutError", 0) == before + 1


def test_listing_and_head_survive_faults(proxy, moto_endpoint):
    _, admin = moto_endpoint
    for i in range(3):
        admin.put_object(Bucket=BUCKET, Key=f"listed/{i}.nc", Body=b"x")
    proxy.inject(
        Fault("503", on="list", first=1), Fault("cut", on="list", first=1), Fault("500", on="head")
    )
    assert storage.list_files(f"s3://{BUCKET}/listed") == [
        f"s3://{BUCKET}/listed/{i}.nc" for i in range(3)
    ]
    assert [k for k, _ in storage.list_with_times(f"s3://{BUCKET}/listed")] == [
        f"s3://{BUCKET}/listed/{i}.nc" for i in range(3)
    ]
    assert proxy.faults() == {"503": 1, "cut": 1}
    with pytest.raises(storage.S3ReadError) as err:
        remote.head(uri(FRANCE_T2M))
    assert str(err.value) == f"{uri(FRANCE_T2M)}: 500; gave up after 5 tries"
    proxy.clear_faults()
    proxy.inject(Fault("503", on="list"))
    with pytest.raises(
        storage.S3ReadError,
        match=r"listing s3://era5-faults/listed/: 503 SlowDown; gave up after 5 tries",
    ):
        storage.list_files(f"s3://{BUCKET}/listed")


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        (Fault("503", on="get"), "503 SlowDown"),
        (Fault("cut", on="get", cut_after=0.5), "IncompleteRead"),
        (Fault("cut", on="get", cut_after=0.5, reset=True), BROKEN),
    ],
    ids=["503", "cut", "reset"],
)
def test_a_day_fails_only_after_its_retries_naming_the_fault_and_the_tries(proxy, fault, named):
    source = netcdf.source_for(uri(FRANCE_T2M), "run-fails")
    netcdf.file_time_range(source)  # planning reads fine
    fault.key = key(FRANCE_T2M)
    proxy.inject(fault)
    with pytest.raises(InputError) as err:
        samples.load_day([source], date(2020, 7, 2), ["t2m"])
    text = str(err.value)
    assert uri(FRANCE_T2M) in text and re.search(named, text), text
    assert re.search(r"gave up after 5 tries", text), text
    # Every try was a request the proxy answered with the fault; none more.
    assert proxy.faults()[fault.kind] == 5


# ------------------------------------------------------------------ anonymous reads


@pytest.fixture
def no_credentials(proxy, monkeypatch, tmp_path):
    """No credentials anywhere botocore looks; the NCAR bucket watched by the proxy."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    proxy.bucket = "nsf-ncar-era5"
    storage._local.s3 = None
    return proxy


def test_the_ncar_bucket_is_read_unsigned_with_no_credentials(
    no_credentials, moto_endpoint, tmp_path
):
    from ncar_layout import analysis_key, build

    from era5_contours.science.daily import read_daily

    _, admin = moto_endpoint
    folder = tmp_path / "ncar"
    build(folder, days=[date(2020, 7, 2)])
    for path in folder.rglob("*.nc"):
        # The real bucket is public by its policy; moto answers an unsigned HEAD by the
        # object's ACL only, so the objects are made public-read.
        admin.upload_file(
            str(path),
            "nsf-ncar-era5",
            str(path.relative_to(folder)),
            ExtraArgs={"ACL": "public-read"},
        )
    t2m_key = analysis_key("128_167_2t", date(2020, 7, 1))
    assert not any(os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))

    listed = storage.list_files("s3://nsf-ncar-era5/e5.oper.an.sfc/202007/")
    assert listed == [f"s3://nsf-ncar-era5/{t2m_key}"]
    source = netcdf.source_for(listed[0], "run-anonymous")
    got = read_daily([source], date(2020, 7, 2), "t2m").field("era5", min_samples=1)
    want = read_daily([FRANCE_T2M], date(2020, 7, 2), "t2m").field("era5", min_samples=1)
    assert got.samples == want.samples == 24
    assert np.array_equal(got.data.sortby("longitude").values, want.data.sortby("longitude").values)
    signing = no_credentials.signing()
    assert signing["signed"] == 0 and signing["unsigned"] >= 3, signing

    # Signed requests find no credentials: other buckets by default, or this one when told.
    from botocore.exceptions import NoCredentialsError

    with pytest.raises(NoCredentialsError):
        storage.list_files("s3://era5-private/in/")
    storage.use_anonymous("era5-private", True)
    assert storage.list_files("s3://era5-private/in/") == []
    storage.use_anonymous("nsf-ncar-era5", False)
    with pytest.raises(NoCredentialsError):
        storage.list_files("s3://nsf-ncar-era5/e5.oper.an.sfc/202007/")


def test_anonymous_settings_per_bucket_and_for_every_bucket(monkeypatch):
    monkeypatch.setenv(storage.ANONYMOUS_ENV, "")
    assert storage.is_anonymous("nsf-ncar-era5") and not storage.is_anonymous("mine")
    assert not storage.is_anonymous(None)
    storage.use_anonymous("*", True)
    assert storage.is_anonymous("mine") and storage.is_anonymous(None)
    storage.use_anonymous("mine", False)
    assert not storage.is_anonymous("mine") and storage.is_anonymous("other")
    assert os.environ[storage.ANONYMOUS_ENV] == "*=true,mine=false"  # inherited by children
    storage.use_anonymous("*", False)
    assert not storage.is_anonymous("nsf-ncar-era5")
    storage.use_anonymous("*", None)
    storage.use_anonymous("mine", None)
    assert storage.is_anonymous("nsf-ncar-era5")
    assert storage.ANONYMOUS_ENV not in os.environ


# ------------------------------------------------------------------ the job on Spark


@pytest.mark.spark
@pytest.mark.integration
def test_the_job_survives_faults_with_values_unchanged(tmp_path):
    """Three days on local[2] through 503s, 500s and cut bodies: all ok, same values."""
    require(FRANCE_T2M, FRANCE_TP)
    pytest.importorskip("pyspark")
    from independent import era5_daily, field_stats

    from era5_contours.run.spark import local_spark_session
    from era5_contours.tables.catalog import load_catalog
    from era5_tools.s3proxy import executor_conf, measure_job_reads

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    workers_tmp = tmp_path / "workers-tmp"
    workers_tmp.mkdir()
    conf = {
        **executor_conf(),
        "spark.executorEnv.TMPDIR": str(workers_tmp),
        # Two processes' requests interleave: more tries than above, so that no fetch
        # can meet a fault at each of its tries.
        "spark.executorEnv.ERA5_S3_RETRY": "tries=8,base=0.01,cap=0.05",
    }
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    spark = local_spark_session("local[2]", "era5-contours-s3-faults", conf=conf)
    days = [date(2020, 7, 1), date(2020, 7, 2), date(2020, 7, 3)]
    faults = [
        Fault("503", on="get", every=4),
        Fault("500", on="get", every=5),
        Fault("cut", on="get", every=3, cut_after=0.3),
        Fault("503", on="list", first=1),
        Fault("500", on="head", every=6),
    ]
    try:
        m = measure_job_reads(
            spark,
            [FRANCE_T2M, FRANCE_TP],
            days[0],
            days[-1],
            tmp_path / "out",
            run_id="s3-faults",
            options={"plots": "false", "lines": "false"},
            faults=faults,
        )
    finally:
        spark.stop()
    played = m["faults"]
    assert played.get("503", 0) >= 1 and played.get("500", 0) >= 1 and played.get("cut", 0) >= 1
    assert m["report"].status_counts == {"ok": 6}
    cat = load_catalog("sql", str(tmp_path / "out" / "warehouse"))
    rows = cat.load_table("climate.daily_summary").scan().to_arrow().to_pylist()
    by_key = {(r["day"], r["variable"]): r for r in rows}
    for day in days:
        expected = era5_daily(day, FRANCE_T2M, FRANCE_TP)
        for v in ("t2m", "tp"):
            for k, value in field_stats(expected[v], expected["lat"]).items():
                assert by_key[(day, v)][k] == pytest.approx(value, abs=1e-3), (day, v, k)

"""The unmodified CDS client against the fake CDS on 127.0.0.1: protocol and faults.

Each case points ``ecmwf-datastores-client`` at :mod:`fake_cds` by URL: a request queued,
then running, then successful; a failed request; 5xx answers and a dropped connection
while polling; a download cut short (resumed with a Range request); a ZIP with both
streams; a request refused as too large and split; a refused key.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import zipfile

import numpy as np
import pytest
import xarray as xr
from fake_cds import KEY, Archive, FakeCDS
from ingest_support import JOB, job_args, sample_archive, sha256
from realdata import FRANCE_T2M, FRANCE_TP, require

from era5_ingest.cds import (
    CdsService,
    PollPolicy,
    RequestFailed,
    RetryPolicy,
    TransientError,
)
from era5_ingest.credentials import Credentials, CredentialsError
from era5_ingest.manifest import Manifest

sys.path.insert(0, str(JOB.parent))
import ingest_era5

pytest.importorskip("ecmwf.datastores", reason="the ingest extra is not installed")

FAST_RETRY = RetryPolicy(attempts=4, first_wait=0.01, max_wait=0.04)
FAST_POLL = PollPolicy(first=0.005, max=0.02, report_every=60)
JULY_1 = {
    "product_type": ["reanalysis"],
    "variable": ["2m_temperature", "total_precipitation"],
    "year": ["2020"],
    "month": ["07"],
    "day": ["01", "02"],
    "time": [f"{h:02d}:00" for h in range(24)],
    "data_format": "netcdf",
    "download_format": "unarchived",
    "area": [47.0, -2.0, 44.0, 2.0],
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Archive:
    return Archive(sample_archive(tmp_path_factory.mktemp("archive")))


def service(cds: FakeCDS, **kwargs) -> CdsService:
    return CdsService(
        Credentials(cds.url, KEY, "test"),
        kwargs.pop("retry", FAST_RETRY),
        FAST_POLL,
        timeout=20,
        progress_every=0.0,
        chunk_size=1024,
        **kwargs,
    )


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("era5_ingest")]


def test_queued_then_running_then_successful(archive, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    said: list[str] = []
    with FakeCDS(archive, queued_polls=3, running_polls=2) as cds:
        result, _ = service(cds).fetch(
            "reanalysis-era5-single-levels", JULY_1, tmp_path / "dl", said.append
        )
        ((collection, request),) = cds.submissions
        payload = cds.jobs[result.request_id].payload
    assert collection == "reanalysis-era5-single-levels" and request == JULY_1
    assert (tmp_path / "dl").read_bytes() == payload and result.size == len(payload)
    states = [s.split()[2] for s in said if s.startswith(f"request {result.request_id}")]
    assert states == ["queued", "running", "successful"]
    assert said[0] == f"submitted request {result.request_id}"
    # Download progress: bytes and speed.
    assert any(s.startswith("downloading: ") and "/s" in s for s in said)
    assert said[-1].startswith(f"downloaded {len(payload) / 1024:.1f} KiB in ")


def test_a_failed_request_says_why(archive, tmp_path):
    fail = FakeCDS(archive, fail_when=lambda r: "MARS returned no data for 20200701")
    with fail as cds, pytest.raises(RequestFailed) as info:
        service(cds).fetch("reanalysis-era5-single-levels", JULY_1, tmp_path / "dl", print)
    message = str(info.value)
    assert "failed" in message and "The job has failed" in message
    assert "MARS returned no data for 20200701" in message
    assert not (tmp_path / "dl").exists()


def test_5xx_and_a_dropped_connection_while_polling_are_retried(archive, tmp_path):
    with FakeCDS(archive, queued_polls=2) as cds:
        cds.poll_errors = [500, 503]  # with the dropped connection: 3 faults in a row
        cds.drop_polls = 1
        result, _ = service(cds).fetch(
            "reanalysis-era5-single-levels", JULY_1, tmp_path / "dl", print
        )
        assert len(cds.submissions) == 1 and cds.poll_errors == [] and cds.drop_polls == 0
        assert sha256((tmp_path / "dl").read_bytes()) == sha256(cds.jobs[result.request_id].payload)


def test_polling_errors_beyond_the_cap_fail_as_transient(archive, tmp_path):
    with FakeCDS(archive) as cds:
        cds.poll_errors = [503] * 10
        with pytest.raises(TransientError, match="HTTP 503"):
            service(cds).fetch("reanalysis-era5-single-levels", JULY_1, tmp_path / "dl", print)


def test_a_download_cut_short_resumes_where_it_stopped(archive, tmp_path):
    said: list[str] = []
    with FakeCDS(archive) as cds:
        cds.cut_downloads = 2
        result, _ = service(cds).fetch(
            "reanalysis-era5-single-levels", JULY_1, tmp_path / "dl", said.append
        )
        payload = cds.jobs[result.request_id].payload
        ranges = list(cds.downloads)
    assert (tmp_path / "dl").read_bytes() == payload
    # The first GET whole, then two resumptions from the bytes already on disk (whole
    # chunks of what the server sent before it cut: half of the rest each time).
    assert ranges[0] is None and len(ranges) == 3
    starts = [int(r.removeprefix("bytes=").rstrip("-")) for r in ranges[1:]]
    assert 0 < starts[0] <= len(payload) // 2
    assert starts[0] < starts[1] <= starts[0] + (len(payload) - starts[0]) // 2
    assert sum("cut short" in s or "gave" in s or "Error" in s for s in said) == 2


def test_a_download_that_keeps_breaking_gives_up_after_the_cap(archive, tmp_path):
    with FakeCDS(archive) as cds:
        cds.cut_downloads = 100
        with pytest.raises(TransientError, match="gave up after 4 attempts"):
            service(cds).fetch("reanalysis-era5-single-levels", JULY_1, tmp_path / "dl", print)
        assert len(cds.downloads) == 4


def test_zip_of_both_streams_from_real_era5_is_unpacked_into_the_month(tmp_path, monkeypatch):
    """Real ERA5 (France, July 2020) served as the CDS does: a ZIP of instant and accum."""
    require(FRANCE_T2M, FRANCE_TP)
    archive = Archive([FRANCE_T2M, FRANCE_TP])
    out = tmp_path / "out"
    with FakeCDS(archive) as cds:
        monkeypatch.setenv("CDSAPI_URL", cds.url)
        monkeypatch.setenv("CDSAPI_KEY", KEY)
        argv = job_args(out, "2020-07", "2020-07", "--next_day", "false")
        argv[argv.index("--area") + 1] = "46,1,45,2"
        assert ingest_era5.main(argv) == 0
        assert len(cds.submissions) == 1
        job = next(iter(cds.jobs.values()))
        with zipfile.ZipFile(io.BytesIO(job.payload)) as served:
            assert sorted(served.namelist()) == [
                "data_stream-oper_stepType-accum.nc",
                "data_stream-oper_stepType-instant.nc",
            ]
    month = out / "era5" / "2020" / "07"
    assert sorted(p.name for p in month.iterdir()) == [
        "_manifest.json",
        "era5_2020-07_t2m.nc",
        "era5_2020-07_tp.nc",
    ]
    manifest = Manifest.loads((month / "_manifest.json").read_bytes())
    assert {f.source_name for f in manifest.files} == {
        "data_stream-oper_stepType-instant.nc",
        "data_stream-oper_stepType-accum.nc",
    }
    # The stored values are the real ones, hour for hour, over the asked area.
    for name, source in (("t2m", FRANCE_T2M), ("tp", FRANCE_TP)):
        with (
            xr.open_dataset(month / f"era5_2020-07_{name}.nc") as got,
            xr.open_dataset(source) as src,
        ):
            want = src[name].sel(latitude=slice(46, 45), longitude=slice(1, 2))
            assert got[name].shape == (744, 5, 5)
            np.testing.assert_array_equal(got[name].values, want.values)
            np.testing.assert_array_equal(got["valid_time"].values, want["valid_time"].values)
            assert got[name].attrs["units"] == want.attrs["units"]


def test_an_oversized_request_is_split_under_the_limit_the_refusal_names(
    archive, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    with FakeCDS(archive, item_limit=500) as cds:
        monkeypatch.setenv("CDSAPI_URL", cds.url)
        monkeypatch.setenv("CDSAPI_KEY", KEY)
        assert ingest_era5.main(job_args(out, "2020-07", "2020-07", "--next_day", "false")) == 0
        refused, accepted = cds.refusals, [r for _, r in cds.submissions]
    assert len(refused) == 1 and refused[0]["day"][-1] == "31"
    fields = [
        (v, d, t) for r in accepted for v in r["variable"] for d in r["day"] for t in r["time"]
    ]
    assert all(len(r["variable"]) * len(r["day"]) * len(r["time"]) <= 500 for r in accepted)
    assert sorted(fields) == sorted(
        (v, f"{d:02d}", f"{h:02d}:00")
        for v in ("2m_temperature", "total_precipitation")
        for d in range(1, 32)
        for h in range(24)
    )
    manifest = Manifest.loads((out / "era5/2020/07/_manifest.json").read_bytes())
    assert manifest.status == "complete" and len(manifest.parts) == len(accepted) == 4
    assert manifest.coverage["t2m"] == {"expected": 744, "found": 744, "missing": []}
    stamps = []
    for path in sorted((out / "era5/2020/07").glob("*_t2m.nc")):
        with xr.open_dataset(path) as ds:
            stamps.extend(ds["valid_time"].values)
    assert len(stamps) == len(set(stamps)) == 744


def test_a_refusal_without_a_limit_halves_the_request(archive, tmp_path, monkeypatch):
    out = tmp_path / "out"
    with FakeCDS(archive, item_limit=600, name_limit=False) as cds:
        monkeypatch.setenv("CDSAPI_URL", cds.url)
        monkeypatch.setenv("CDSAPI_KEY", KEY)
        argv = job_args(out, "2020-07", "2020-07", "--next_day", "false")
        assert ingest_era5.main(argv) == 0
        sizes = [len(r["day"]) for r in cds.refusals]
        accepted = sorted(len(r["day"]) for _, r in cds.submissions)
    # 31 days refused, halved: 16 days (768 fields) refused again, halved: 8 + 8
    # accepted; 15 days (720 fields) refused, halved: 8 + 7 accepted.
    assert sizes == [31, 16, 15]
    assert accepted == [7, 8, 8, 8]


def test_a_refused_key_stops_the_run_before_any_request(archive, tmp_path, monkeypatch):
    with FakeCDS(archive) as cds:
        with pytest.raises(CredentialsError, match="refuses the key from test") as info:
            CdsService(
                Credentials(cds.url, "99999999-0000-0000-0000-000000000000", "test")
            ).check_authentication()
        assert "99999999" not in str(info.value)
        monkeypatch.setenv("CDSAPI_URL", cds.url)
        monkeypatch.setenv("CDSAPI_KEY", "99999999-0000-0000-0000-000000000000")
        assert ingest_era5.main(job_args(tmp_path / "out")) == 2
        assert cds.submissions == [] and not (tmp_path / "out").exists()


def test_era5_land_is_one_netcdf_with_both_variables(archive, tmp_path, monkeypatch):
    out = tmp_path / "out"
    with FakeCDS(archive) as cds:
        monkeypatch.setenv("CDSAPI_URL", cds.url)
        monkeypatch.setenv("CDSAPI_KEY", KEY)
        argv = job_args(out, "2020-08", "2020-08")
        argv[argv.index("--dataset") + 1] = "era5-land"
        assert ingest_era5.main(argv) == 0
        collections = {c for c, _ in cds.submissions}
        assert all("product_type" not in r for _, r in cds.submissions)
    assert collections == {"reanalysis-era5-land"}
    month = out / "era5-land" / "2020" / "08"
    assert sorted(p.name for p in month.glob("*.nc")) == [
        "era5-land_2020-08_t2m-tp.nc",
        "era5-land_2020-09-01T00_tp.nc",
    ]
    manifest = json.loads((month / "_manifest.json").read_text())
    assert manifest["request"]["collection"] == "reanalysis-era5-land"
    assert manifest["files"][0]["variables"] == ["t2m", "tp"]


def test_a_scalar_time_coordinate_is_one_valid_time(tmp_path):
    """A one-hour file may carry valid_time as a scalar, not along a dimension."""
    import netCDF4

    from era5_ingest.files import describe_netcdf

    path = tmp_path / "one_hour.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("latitude", 2)
        nc.createDimension("longitude", 3)
        time = nc.createVariable("valid_time", "i8")
        time.units = "seconds since 1970-01-01"
        time.calendar = "proleptic_gregorian"
        time.assignValue(1594771200)  # 2020-07-15T00:00Z
        nc.createVariable("t2m", "f4", ("latitude", "longitude"))[:] = np.zeros((2, 3))
    content = describe_netcdf(path)
    assert content.variables == ("t2m",)
    assert [t.isoformat() for t in content.times] == ["2020-07-15T00:00:00"]

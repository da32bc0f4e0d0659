"""src/jobs/ingest_era5.py end to end against the fake CDS, into a local folder.

Two months of the synthetic archive: the files and manifests (checked with hashlib and
xarray here), a rerun after the job was killed mid-request, a corrupted file fetched
again, transient faults absorbed, and a failed month that leaves the other complete.
Requests are counted at the fake server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from fake_cds import KEY, Archive, FakeCDS
from ingest_support import JOB, job_args, sample_archive

from era5_common import storage
from era5_ingest.manifest import Manifest

sys.path.insert(0, str(JOB.parent))
import ingest_era5

pytest.importorskip("ecmwf.datastores", reason="the ingest extra is not installed")


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> list[Path]:
    return sample_archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def archive(source) -> Archive:
    return Archive(source)


@pytest.fixture
def cds_env(monkeypatch):
    def point(cds: FakeCDS) -> dict[str, str]:
        monkeypatch.setenv("CDSAPI_URL", cds.url)
        monkeypatch.setenv("CDSAPI_KEY", KEY)
        monkeypatch.delenv("CDSAPI_RC", raising=False)
        return {**os.environ, "CDSAPI_URL": cds.url, "CDSAPI_KEY": KEY}

    return point


def manifest_of(month_dir: Path) -> Manifest:
    return Manifest.loads((month_dir / "_manifest.json").read_bytes())


def files_of(month_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(month_dir.glob("*.nc"))}


def test_two_months_into_a_folder(archive, source, tmp_path, cds_env, capsys):
    out = tmp_path / "out"
    with FakeCDS(archive) as cds:
        cds_env(cds)
        assert ingest_era5.main(job_args(out)) == 0
        submitted = {job.id: job.request for job in cds.jobs.values()}
    summary = capsys.readouterr().out
    assert "2 of 2 months complete" in summary
    july, august = out / "era5" / "2020" / "07", out / "era5" / "2020" / "08"
    assert sorted(files_of(july)) == ["era5_2020-07_t2m.nc", "era5_2020-07_tp.nc"]
    assert sorted(files_of(august)) == [
        "era5_2020-08_t2m.nc",
        "era5_2020-08_tp.nc",
        "era5_2020-09-01T00_tp.nc",
    ]
    # Three requests: each month, and 1 Sep 00 UTC for the last day's tp.
    assert len(submitted) == 3
    for month_dir, month in ((july, 7), (august, 8)):
        manifest = manifest_of(month_dir)
        assert manifest.status == "complete" and manifest.error is None
        assert manifest.spec["month"] == f"2020-{month:02d}"
        assert manifest.spec["area"] == [47.0, -2.0, 44.0, 2.0]
        assert manifest.spec["variables"] == ["t2m", "tp"]
        stored = files_of(month_dir)
        assert {f.name for f in manifest.files} == set(stored)
        for entry in manifest.files:
            data = stored[entry.name]
            assert entry.size == len(data)
            assert entry.sha256 == hashlib.sha256(data).hexdigest()
            assert entry.request_id in submitted
            part = manifest.part(entry.part)
            assert part.request == submitted[entry.request_id] and part.status == "complete"
            with xr.open_dataset(month_dir / entry.name) as ds:
                assert sorted(ds.data_vars) == entry.variables
                times = ds["valid_time"].values
                assert entry.valid_time_count == times.size
                assert np.datetime64(entry.valid_time_first) == times.min()
                assert np.datetime64(entry.valid_time_last) == times.max()
        assert manifest.coverage["t2m"]["found"] == 744
        assert manifest.coverage["tp"]["found"] == 744 + (month == 8)
    # The next-day file holds exactly the archive's 1 Sep 00 UTC tp.
    with xr.open_dataset(august / "era5_2020-09-01T00_tp.nc") as got:
        september = next(p for p in source if "2020-09_accum" in p.name)
        with xr.open_dataset(september) as want:
            np.testing.assert_array_equal(got["tp"].values, want["tp"].values)
    # The contour job's input listing: every .nc under the dataset folder, no manifest.
    listed = storage.list_files(str(out / "era5"))
    assert sorted(Path(p).name for p in listed) == sorted([*files_of(july), *files_of(august)])
    assert not any(p.endswith(".json") for p in listed)


def test_a_killed_run_resumes_skipping_the_complete_month(archive, tmp_path, cds_env):
    out = tmp_path / "out"

    def august_main(request):
        return request["month"] == ["08"] and len(request["day"]) == 31

    release = {"now": False}
    with FakeCDS(archive, hold=lambda r: august_main(r) and not release["now"]) as cds:
        env = cds_env(cds)
        proc = subprocess.Popen(
            [sys.executable, str(JOB), *job_args(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        july, august = out / "era5/2020/07", out / "era5/2020/08"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = (july / "_manifest.json").exists() and manifest_of(july).status == "complete"
            waiting = (august / "_manifest.json").exists() and any(
                p.status == "submitted" and p.request_id for p in manifest_of(august).parts
            )
            if ready and waiting:
                break
            time.sleep(0.05)
        else:
            proc.kill()
            pytest.fail("the job never reached the held August request:\n" + proc.communicate()[0])
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        held_id = next(p.request_id for p in manifest_of(august).parts if p.status == "submitted")
        before = len(cds.submissions)
        assert before == 2  # July, and the held August request
        release["now"] = True

        assert ingest_era5.main(job_args(out)) == 0
        # July was skipped; August followed its queued request instead of asking again;
        # only 1 Sep 00 UTC (never reached before the kill) was submitted.
        new = cds.submissions[before:]
        assert [(r["month"], r["day"], r["variable"]) for _, r in new] == [
            (["09"], ["01"], ["total_precipitation"])
        ]
    manifest = manifest_of(august)
    assert manifest.status == "complete"
    assert manifest.part("2020-08").request_id == held_id
    assert manifest_of(july).status == "complete"


def test_a_rerun_skips_complete_months_and_fetches_a_corrupted_file_again(
    archive, tmp_path, cds_env, caplog
):
    caplog.set_level(logging.INFO, logger="era5_ingest")
    out = tmp_path / "out"
    with FakeCDS(archive) as cds:
        cds_env(cds)
        assert ingest_era5.main(job_args(out)) == 0
        assert len(cds.submissions) == 3
        original = files_of(out / "era5/2020/07")

        assert ingest_era5.main(job_args(out)) == 0
        assert len(cds.submissions) == 3  # nothing asked: both months complete and verified

        # One byte of the July tp file changes (same size): its hash no longer matches.
        bad = out / "era5/2020/07/era5_2020-07_tp.nc"
        data = bytearray(bad.read_bytes())
        data[len(data) // 2] ^= 0xFF
        bad.write_bytes(bytes(data))
        assert ingest_era5.main(job_args(out)) == 0
        new = [r for _, r in cds.submissions[3:]]
    assert [(r["month"], len(r["day"])) for r in new] == [(["07"], 31)]
    assert "era5_2020-07_tp.nc: sha256 differs from the manifest" in caplog.text
    manifest = manifest_of(out / "era5/2020/07")
    refetched = files_of(out / "era5/2020/07")
    for entry in manifest.files:
        assert entry.sha256 == hashlib.sha256(refetched[entry.name]).hexdigest()
    with xr.open_dataset(bad) as got:
        tmp = tmp_path / "original_tp.nc"
        tmp.write_bytes(original["era5_2020-07_tp.nc"])
        with xr.open_dataset(tmp) as want:
            xr.testing.assert_identical(got["tp"], want["tp"])


def test_transient_faults_are_absorbed(archive, tmp_path, cds_env):
    out = tmp_path / "out"
    with FakeCDS(archive) as cds:
        cds_env(cds)
        cds.poll_errors = [502, 500]
        cds.drop_polls = 1
        cds.cut_downloads = 2
        assert ingest_era5.main(job_args(out, "2020-07", "2020-07", "--next_day", "false")) == 0
        assert len(cds.submissions) == 1 and cds.cut_downloads == 0 and cds.poll_errors == []
    assert manifest_of(out / "era5/2020/07").status == "complete"


def test_a_failed_month_fails_alone(archive, tmp_path, cds_env, capsys):
    out = tmp_path / "out"
    why = "MARS: no data for 202008"

    def fail_august(request):
        return why if request["month"] == ["08"] and len(request["day"]) == 31 else None

    with FakeCDS(archive, fail_when=fail_august) as cds:
        cds_env(cds)
        assert ingest_era5.main(job_args(out)) == 1
        months = sorted(r["month"][0] for _, r in cds.submissions)
    assert months == ["07", "08", "09"]  # 1 Sep 00 UTC still fetched: August has its parts
    summary = capsys.readouterr().out
    assert "2020-08  FAILED" in summary and why in summary
    assert "1 of 2 months complete; failed or incomplete: 2020-08" in summary
    assert manifest_of(out / "era5/2020/07").status == "complete"
    august = manifest_of(out / "era5/2020/08")
    assert august.status == "failed" and why in august.error
    assert august.part("2020-08").status == "failed"
    assert august.coverage["t2m"]["found"] == 0
    assert sorted(files_of(out / "era5/2020/08")) == ["era5_2020-09-01T00_tp.nc"]
    # A rerun asks only for what failed.
    with FakeCDS(archive) as cds:
        cds_env(cds)
        assert ingest_era5.main(job_args(out)) == 0
        assert [len(r["day"]) for _, r in cds.submissions] == [31]
    assert manifest_of(out / "era5/2020/08").status == "complete"


def test_a_month_the_cds_only_partly_has_is_incomplete(tmp_path, source, cds_env):
    """The archive ends on 1 Sep 00 UTC: asking for September gets one hour of it."""
    out = tmp_path / "out"
    with FakeCDS(Archive(source)) as cds:
        cds_env(cds)
        argv = job_args(out, "2020-09", "2020-09", "--next_day", "false")
        assert ingest_era5.main(argv) == 1
    manifest = manifest_of(out / "era5/2020/09")
    assert manifest.status == "incomplete"
    assert manifest.coverage["t2m"] == {
        "expected": 720,
        "found": 1,
        "missing": [["2020-09-01T01:00:00", "2020-09-30T23:00:00"]],
    }
    assert "t2m: 719 of 720 hours missing (2020-09-01T01:00:00..2020-09-30T23:00:00)" in (
        manifest.error
    )


def test_bad_arguments_and_unwritable_output_exit_2(archive, tmp_path, cds_env):
    with FakeCDS(archive) as cds:
        cds_env(cds)
        assert ingest_era5.main(job_args(tmp_path / "o", "2020-08", "2020-07")) == 2
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        assert ingest_era5.main(job_args(blocker / "out")) == 2
        assert cds.submissions == []


def test_glue_passes_arguments_of_its_own():
    args = ingest_era5.parse_args(
        [
            "--job-bookmark-option",
            "job-bookmark-disable",
            "--scriptLocation",
            "s3://b/scripts/ingest_era5.py",
            "--output",  # never taken for --output_path (no abbreviations)
            "x",
            *job_args("s3://bucket/raw"),
        ]
    )
    assert args["output_path"] == "s3://bucket/raw" and args["dataset"] == "era5"
    assert json.dumps(args)


def test_a_request_queued_too_long_is_followed_by_the_next_run(archive, tmp_path, cds_env):
    out = tmp_path / "out"
    release = {"now": False}

    def held(request):
        return request["month"] == ["07"] and not release["now"]

    with FakeCDS(archive, hold=held) as cds:
        cds_env(cds)
        argv = job_args(out, "2020-07", "2020-07", "--next_day", "false")
        # 0.2 s of queue at most (the fake keeps it queued as long as held).
        assert ingest_era5.main([*argv, "--max_queue_hours", str(0.2 / 3600)]) == 1
        manifest = manifest_of(out / "era5/2020/07")
        (part,) = manifest.parts
        assert (manifest.status, part.status) == ("failed", "submitted")
        assert part.request_id in cds.jobs and "still queued" in part.error
        release["now"] = True
        assert ingest_era5.main(argv) == 0
        assert len(cds.submissions) == 1  # followed, never submitted twice
    manifest = manifest_of(out / "era5/2020/07")
    assert manifest.status == "complete" and manifest.parts[0].request_id == part.request_id


def test_the_key_appears_in_no_log_line_output_or_manifest(
    archive, tmp_path, cds_env, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    with FakeCDS(archive) as cds:
        cds_env(cds)
        cds.poll_errors = [500]
        cds.cut_downloads = 1
        argv = job_args(out, "2020-07", "2020-07", "--log_level", "DEBUG")
        assert ingest_era5.main(argv) == 0
    captured = capsys.readouterr()
    assert "successful" in caplog.text and KEY not in caplog.text
    assert KEY not in captured.out + captured.err
    for path in out.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path

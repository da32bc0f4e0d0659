"""storage: local folders and S3 behind one interface (S3 through in-process moto)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from era5_common import storage

# Depends on what differs between the Glue runtimes: the lanes run it (sh/test_glue_lane.sh).
pytestmark = pytest.mark.runtime

moto = pytest.importorskip("moto", reason="moto not installed")


@pytest.fixture
def s3(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    with moto.mock_aws():
        storage._local.s3 = None  # a client made outside the mock would reach AWS
        client = storage.s3_client()
        client.create_bucket(Bucket="era5-bucket")
        yield client
    storage._local.s3 = None


def test_join_and_split():
    assert storage.join("s3://b/p/", "contours", "/t2m/") == "s3://b/p/contours/t2m"
    assert storage.join("/data", "a", "b.nc") == os.path.join("/data", "a", "b.nc")
    assert storage.split_s3("s3://bucket/a/b.nc") == ("bucket", "a/b.nc")
    assert storage.is_s3("s3a://x/y") and not storage.is_s3("/s3/x")
    with pytest.raises(ValueError):
        storage.split_s3("s3:///key")


def test_local_write_is_atomic_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out" / "contours" / "t2m" / "2020-07-01.geojson"
    storage.write_bytes(str(target), b'{"type":"FeatureCollection"}')
    assert target.read_bytes() == b'{"type":"FeatureCollection"}'
    storage.write_bytes(str(target), b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["2020-07-01.geojson"]
    assert storage.read_bytes(str(target)) == b"second"
    assert storage.delete(f"file://{target}") and not target.exists()
    assert storage.delete(str(target)) is False


def test_local_listing_is_recursive_sorted_and_filtered(tmp_path):
    for name in ("b/2.nc", "a/1.nc", "a/notes.txt", "c.nc"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert storage.list_files(str(tmp_path)) == [
        str(tmp_path / "a/1.nc"),
        str(tmp_path / "b/2.nc"),
        str(tmp_path / "c.nc"),
    ]
    with pytest.raises(FileNotFoundError, match="input folder not found"):
        storage.list_files(str(tmp_path / "missing"))


def test_s3_write_sets_content_types_and_lists_under_prefix(s3):
    storage.write_bytes("s3://era5-bucket/out/contours/tp/2020-07-01.geojson", b"{}")
    storage.write_bytes("s3://era5-bucket/out/plots/tp/2020-07-01.png", b"\x89PNG")
    head = s3.head_object(Bucket="era5-bucket", Key="out/contours/tp/2020-07-01.geojson")
    assert head["ContentType"] == "application/geo+json"
    assert (
        s3.head_object(Bucket="era5-bucket", Key="out/plots/tp/2020-07-01.png")["ContentType"]
        == "image/png"
    )
    for key in ("in/2020/a.nc", "in/2020/b.nc", "in/readme.txt", "input-other/c.nc"):
        s3.put_object(Bucket="era5-bucket", Key=key, Body=b"x")
    # "in" must not match the sibling prefix "input-other".
    assert storage.list_files("s3://era5-bucket/in") == [
        "s3://era5-bucket/in/2020/a.nc",
        "s3://era5-bucket/in/2020/b.nc",
    ]
    assert storage.read_bytes("s3://era5-bucket/in/2020/a.nc") == b"x"
    assert storage.delete("s3://era5-bucket/in/2020/a.nc") is True
    assert storage.delete("s3://era5-bucket/in/2020/a.nc") is False


def test_endpoint_override_reaches_boto3(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    storage.use_endpoint("http://127.0.0.1:9")
    try:
        assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
        assert storage.s3_client().meta.endpoint_url == "http://127.0.0.1:9"
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        storage._local.s3 = None


def test_local_listing_with_times_survives_files_that_vanish_meanwhile(tmp_path, monkeypatch):
    """Another process renames its temporary file just after the walk first sees it."""
    (tmp_path / "a.json").write_text("{}")
    temporary = tmp_path / ".b.json.1234.tmp"
    temporary.write_text("{}")
    real_stat = Path.stat

    def stat_then_rename(self, *args, **kwargs):
        info = real_stat(self, *args, **kwargs)
        if self == temporary and os.path.exists(temporary):
            temporary.rename(tmp_path / "b.json")
        return info

    monkeypatch.setattr(Path, "stat", stat_then_rename)
    listing = dict(storage.list_with_times(str(tmp_path)))
    assert listing[str(tmp_path / "a.json")] == real_stat(tmp_path / "a.json").st_mtime
    assert set(listing) <= {str(tmp_path / "a.json"), str(temporary), str(tmp_path / "b.json")}


def test_a_changed_endpoint_gets_a_new_client(monkeypatch):
    """A process that meets a second S3 endpoint (another moto server) stops using the first."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    try:
        first, exclusive = storage.s3_client(), storage._exclusive_s3_client()
        assert storage.s3_client() is first
        assert storage._exclusive_s3_client() is exclusive
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:10")
        assert storage.s3_client().meta.endpoint_url == "http://127.0.0.1:10"
        assert storage._exclusive_s3_client().meta.endpoint_url == "http://127.0.0.1:10"
    finally:
        storage._local.s3 = storage._local.s3_exclusive = None

"""The streaming reader and daily rules: samples, values and errors.

Daily values are checked against an independent xarray computation on the raw files (as
in test_daily); the samples the stream yields against the same files read with xarray
alone (tests/independent.py), case by case: layouts, duplicates, conflicts, missing
hours, grids, bad files.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from independent import window_samples

from era5_common.errors import InputError
from era5_contours.inputs.datasets import ERA5, ERA5_LAND
from era5_contours.inputs.samples import DaySamples, day_samples
from era5_contours.science.daily import DailyAccumulator, IncompleteDayError, read_daily

FR_T2M = "era5_france_2020-07_hourly_instant_t2m.nc"
FR_TP = "era5_france_2020-07_hourly_accum_tp.nc"
KERALA = "era5land_kerala_2025-09-11_hourly_t2m_tp.nc"
LEGACY = "era5_legacy_global20deg_2021-03-01T12_t2m_packed.nc"
TOL = 1e-3


def _streamed(paths, start, end, variable, closed="both", hours_per_read=2):
    with DaySamples(
        paths, variable, (start, end, closed), hours_per_read=hours_per_read
    ) as samples:
        got = list(samples)
        return samples, got


def _assert_same_as_xarray(paths, start, end, variable, closed="both", hours_per_read=2):
    samples, got = _streamed(paths, start, end, variable, closed, hours_per_read)
    times, values, sources, lat, lon = window_samples(paths, variable, start, end, closed)
    np.testing.assert_array_equal([s.time for s in got], times)
    if got:
        np.testing.assert_allclose(np.stack([s.values for s in got]), values, rtol=1e-6)
        # Coordinates rounded to 1e-4 degrees, so that grids of different files join.
        np.testing.assert_allclose(samples.latitude, lat, atol=1e-4)
        np.testing.assert_allclose(samples.longitude, lon, atol=1e-4)
    assert samples.source_files == sources
    return got


# --- daily values against the raw files --------------------------------------------------


@pytest.mark.parametrize("hours_per_read", [1, 2, 5])
def test_france_daily_fields_match_raw_files(era5_file, hours_per_read):
    day = date(2020, 7, 14)
    with xr.open_dataset(era5_file(FR_T2M)) as raw:
        t2m = raw["t2m"].sel(valid_time=slice("2020-07-14T00", "2020-07-14T23"))
        assert t2m.sizes["valid_time"] == 24
        expected_t2m = (t2m.astype(float).mean("valid_time") - 273.15).sortby("latitude")
    with xr.open_dataset(era5_file(FR_TP)) as raw:
        tp = raw["tp"].sel(valid_time=slice("2020-07-14T01", "2020-07-15T00"))
        assert tp.sizes["valid_time"] == 24
        expected_tp = (tp.astype(float).sum("valid_time") * 1000.0).sortby("latitude")

    acc = read_daily([era5_file(FR_T2M)], day, "t2m", hours_per_read=hours_per_read)
    field = acc.field(ERA5)
    assert field.complete and field.samples == 24
    np.testing.assert_allclose(field.data.values, expected_t2m.values, atol=TOL)

    acc = read_daily([era5_file(FR_TP)], day, "tp", hours_per_read=hours_per_read)
    assert acc.detect().dataset == ERA5  # tp goes up and down through the day
    field = acc.field(acc.detect().dataset)
    assert field.dataset == ERA5 and field.samples == 24
    np.testing.assert_allclose(field.data.values, expected_tp.values, atol=TOL)
    assert acc.source_files == [str(era5_file(FR_TP))]


def test_france_last_day_of_month_tp_is_incomplete(era5_file):
    acc = read_daily([era5_file(FR_TP)], date(2020, 7, 31), "tp")
    with pytest.raises(IncompleteDayError) as err:
        acc.field(ERA5)
    assert (err.value.samples, err.value.required) == (23, 24)
    field = acc.field(ERA5, min_samples=23)
    assert not field.complete and field.samples == 23
    with xr.open_dataset(era5_file(FR_TP)) as raw:
        expected = (
            raw["tp"]
            .sel(valid_time=slice("2020-07-31T01", "2020-07-31T23"))
            .sum("valid_time")
            .sortby("latitude")
            .values
            * 1000.0
        )
    np.testing.assert_allclose(field.data.values, expected, atol=TOL)


def test_kerala_era5_land_partial_day(era5_file):
    path = era5_file(KERALA)
    day = date(2025, 9, 11)
    acc = read_daily([path], day, "tp")
    detection = acc.detect()
    assert detection.dataset == ERA5_LAND
    with pytest.raises(IncompleteDayError):
        acc.field(ERA5_LAND)
    field = acc.field(ERA5_LAND, min_samples=1)
    with xr.open_dataset(path) as raw:
        # Accumulated since 00 UTC: the partial total is the last value, 18 UTC.
        last = raw["tp"].sel(valid_time="2025-09-11T18:00").sortby("latitude") * 1000.0
        assert int(raw["valid_time"].size) == 19
    np.testing.assert_allclose(field.data.values, last.values, atol=1e-6, equal_nan=True)
    # 01..18 UTC: 18 samples in the window, D 00 UTC belongs to the day before
    assert field.samples == 18
    assert np.isnan(field.data.values).any()  # the sea

    t2m = read_daily([path], day, "t2m")
    assert t2m.detect().dataset == ERA5_LAND  # NaN over the sea
    assert t2m.samples == 19


def test_detection_override_and_metadata(era5_file):
    acc = read_daily([era5_file(FR_TP)], date(2020, 7, 2), "tp")
    assert acc.detect("era5-land").dataset == ERA5_LAND
    assert acc.detect("auto").dataset == ERA5
    # A known product keeps only its rule's accumulator.
    land = read_daily([era5_file(FR_TP)], date(2020, 7, 2), "tp", dataset=ERA5_LAND)
    with pytest.raises(ValueError, match="needs the sum"):
        land.field(ERA5)


# --- the samples: same as xarray reads them --------------------------------------------


def test_real_month_samples_equal_xarray(era5_file):
    for variable, name, closed in (("t2m", FR_T2M, "left"), ("tp", FR_TP, "right")):
        got = _assert_same_as_xarray(
            [era5_file(name)], datetime(2020, 7, 3), datetime(2020, 7, 4), variable, closed
        )
        assert len(got) == 24


def test_legacy_packed_file(era5_file):
    got = _assert_same_as_xarray(
        [era5_file(LEGACY)], datetime(2021, 3, 1), datetime(2021, 3, 2), "t2m"
    )
    assert len(got) == 1 and got[0].values.dtype.kind == "f"


def test_descending_lat_0_360_lon_and_units(cf_dataset, write_nc):
    lat = [30.0, 20.0, 10.0]
    lon = np.arange(0.0, 360.0, 45.0)
    times = pd.date_range("2021-01-01", periods=3, freq="h")
    values = np.array([[[1000 * la + lo + h for lo in lon] for la in lat] for h in range(3)])
    ds = cf_dataset({"t2m": values - 273.15}, times, lat, lon, lat_name="lat", lon_name="lon")
    ds["t2m"].attrs["units"] = "degC"
    path = write_nc(ds, "latlon.nc", format="NETCDF3_64BIT")
    got = _assert_same_as_xarray(
        [path], datetime(2021, 1, 1), datetime(2021, 1, 1, 2), "t2m", hours_per_read=2
    )
    # independent: the value at (10N, -135E) of hour 1 is 1000 * 10 + 225 + 1 K
    assert got[1].values[0, 1] == pytest.approx(10226.0, rel=1e-6)


def test_window_across_two_files_with_identical_duplicates(cf_dataset, write_nc):
    lat, lon = [0.0, 1.0], [0.0, 1.0]
    times = pd.date_range("2020-01-01T00", periods=5, freq="h")
    values = 280.0 + np.arange(5 * 4, dtype=float).reshape(5, 2, 2)
    a = write_nc(cf_dataset({"t2m": values[:3]}, times[:3], lat, lon), "a.nc")
    b_ds = cf_dataset({"t2m": values[1:] - 273.15}, times[1:], lat, lon)
    b_ds["t2m"] = b_ds["t2m"].astype("float64").assign_attrs(units="degC")
    b = write_nc(b_ds, "b.nc")
    for hours in (1, 2, 3):
        got = _assert_same_as_xarray(
            [a, b], datetime(2020, 1, 1), datetime(2020, 1, 1, 4), "t2m", hours_per_read=hours
        )
        assert len(got) == 5
        np.testing.assert_allclose(np.stack([s.values for s in got]), values, rtol=1e-6)
        assert [s.source for s in got] == [str(a)] * 3 + [str(b)] * 2


def test_conflicting_duplicates_name_both_files(cf_dataset, write_nc):
    lat, lon = [0.0, 1.0], [0.0, 1.0]
    times = pd.date_range("2020-01-01T00", periods=3, freq="h")
    a = write_nc(cf_dataset({"t2m": np.full((3, 2, 2), 280.0)}, times, lat, lon), "a.nc")
    b = write_nc(cf_dataset({"t2m": np.full((3, 2, 2), 280.5)}, times, lat, lon), "b.nc")
    with pytest.raises(InputError) as err:
        _streamed([a, b], datetime(2020, 1, 1), datetime(2020, 1, 1, 3), "t2m")
    text = str(err.value)
    assert str(a) in text and str(b) in text
    assert "conflicting samples at 2020-01-01T00:00" in text and "0.5 K" in text


def test_all_nan_hours_are_missing_samples(cf_dataset, write_nc):
    lat, lon = [0.0, 1.0], [0.0, 1.0]
    times = pd.date_range("2020-01-01T00", periods=3, freq="h")
    placeholder = np.full((3, 2, 2), np.nan)
    placeholder[0] = 281.0
    a = write_nc(cf_dataset({"t2m": placeholder}, times, lat, lon), "a.nc")
    b = write_nc(cf_dataset({"t2m": np.full((1, 2, 2), 282.0)}, times[1:2], lat, lon), "b.nc")
    got = _assert_same_as_xarray([a, b], datetime(2020, 1, 1), datetime(2020, 1, 1, 2), "t2m")
    assert [float(s.values[0, 0]) for s in got] == [281.0, 282.0]  # 02 UTC is missing


def test_different_grids_name_both_files(cf_dataset, write_nc):
    times = pd.date_range("2020-01-01T00", periods=2, freq="h")
    a = write_nc(cf_dataset({"t2m": np.ones((1, 3, 3))}, times[:1], [0, 1, 2], [0, 1, 2]), "a.nc")
    b = write_nc(cf_dataset({"t2m": np.ones((1, 2, 2))}, times[1:], [0, 1], [0, 1]), "b.nc")
    with pytest.raises(InputError) as err:
        _streamed([a, b], datetime(2020, 1, 1), datetime(2020, 1, 1, 1), "t2m")
    assert "different grids" in str(err.value)
    assert str(a) in str(err.value) and str(b) in str(err.value)


def test_bad_files_and_missing_variable(era5_file, tmp_path):
    bad = tmp_path / "corrupt.nc"
    bad.write_bytes(b"not a netcdf file")
    with pytest.raises(InputError, match="cannot read NetCDF") as err:
        day_samples([bad], date(2020, 7, 1), "t2m")
    assert str(bad) in str(err.value)

    truncated = tmp_path / "truncated.nc"
    data = era5_file(FR_T2M).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        read_daily([truncated], date(2020, 7, 20), "t2m")
    assert str(truncated) in str(err.value)

    with pytest.raises(InputError, match="no file holds this variable") as err:
        day_samples([era5_file(FR_T2M)], date(2020, 7, 1), "tp")
    assert err.value.variable == "tp"


def test_multi_hour_chunks_are_read_once_per_chunk(era5_file, tmp_path):
    """A file stored as one chunk (as small CDS files are) reads the same, hour by hour."""
    path = tmp_path / "one_chunk.nc"
    shutil.copy(era5_file(FR_T2M), path)
    with netCDF4.Dataset(path) as nc:
        assert nc.variables["t2m"].chunking() == [744, 49, 65]
    got = _assert_same_as_xarray(
        [path], datetime(2020, 7, 10), datetime(2020, 7, 11), "t2m", "left", hours_per_read=1
    )
    assert len(got) == 24


def test_accumulator_refuses_out_of_order_and_other_grids():
    acc = DailyAccumulator(
        "t2m", date(2020, 1, 1), latitude=np.array([0.0, 1.0]), longitude=np.array([0.0, 1.0])
    )
    acc.add(np.datetime64("2020-01-01T01"), np.full((2, 2), 280.0))
    with pytest.raises(ValueError, match="time order"):
        acc.add(np.datetime64("2020-01-01T00"), np.full((2, 2), 280.0))
    with pytest.raises(ValueError, match="shape"):
        acc.add(np.datetime64("2020-01-01T02"), np.full((3, 2), 280.0))
    acc.add(np.datetime64("2020-01-02T00"), np.full((2, 2), 1.0))  # outside the window
    assert acc.samples == 1

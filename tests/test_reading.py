from __future__ import annotations

import shutil
from datetime import date, datetime

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from era5_common.errors import InputError
from era5_contours.inputs.netcdf import NamedSource, file_time_range, open_dataset
from era5_contours.inputs.samples import load_day, load_window
from era5_contours.inputs.windows import sample_window
from era5_contours.science.daily import daily_field

# Depends on what differs between the Glue runtimes: the lanes run it (sh/test_glue_lane.sh).
pytestmark = pytest.mark.runtime

LEGACY = "era5_legacy_global20deg_2021-03-01T12_t2m_packed.nc"
FR_T2M = "era5_france_2020-07_hourly_instant_t2m.nc"
FR_TP = "era5_france_2020-07_hourly_accum_tp.nc"
SW_T2M = "era5_swfrance_2020-07-01_06_hourly_instant_t2m.nc"
SW_TP = "era5_swfrance_2020-07-01_06_hourly_accum_tp.nc"
KERALA = "era5land_kerala_2025-09-11_hourly_t2m_tp.nc"


def _manual_unpack(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw int16 * scale_factor + add_offset, fill -> NaN, as stored (no reordering)."""
    with netCDF4.Dataset(path) as nc:
        var = nc.variables["t2m"]
        var.set_auto_maskandscale(False)
        raw = var[:]
        scale = float(var.getncattr("scale_factor"))
        offset = float(var.getncattr("add_offset"))
        fill = var.getncattr("_FillValue")
        lat = np.asarray(nc.variables["latitude"][:], dtype=float)
        lon = np.asarray(nc.variables["longitude"][:], dtype=float)
    assert raw.dtype == np.int16
    values = np.where(raw == fill, np.nan, raw.astype(np.float64) * scale + offset)
    return values, lat, lon


# --- legacy NetCDF3, packed -------------------------------------------------------------


def test_legacy_packed_netcdf3_layout(era5_file):
    path = era5_file(LEGACY)
    with netCDF4.Dataset(path) as nc:
        assert nc.file_format.startswith("NETCDF3")
        assert "time" in nc.dimensions
    ds = open_dataset(path)
    assert ds["t2m"].dims == ("time", "latitude", "longitude")
    assert ds.sizes["time"] == 1
    assert pd.Timestamp(ds["time"].values[0]) == pd.Timestamp("2021-03-01T12:00")
    lat = ds["latitude"].values
    lon = ds["longitude"].values
    np.testing.assert_array_equal(lat, np.arange(-80.0, 81.0, 20.0))  # ascending
    # 0..340 every 20 degrees wrapped to [-180, 180) and sorted
    np.testing.assert_array_equal(lon, np.arange(-180.0, 161.0, 20.0))


def test_legacy_packed_values_equal_manual_unpacking(era5_file):
    path = era5_file(LEGACY)
    values, raw_lat, raw_lon = _manual_unpack(path)
    assert raw_lat[0] > raw_lat[-1] and raw_lon.min() == 0.0  # the traps are really there
    ds = open_dataset(path)
    t2m = ds["t2m"].isel(time=0)
    checked = 0
    for i, la in enumerate(raw_lat):
        for j, lo in enumerate(raw_lon):
            lo_wrapped = lo - 360.0 if lo >= 180.0 else lo
            got = float(t2m.sel(latitude=round(la, 4), longitude=round(lo_wrapped, 4)))
            assert got == pytest.approx(values[0, i, j], abs=1e-4)
            checked += 1
    assert checked == ds.sizes["latitude"] * ds.sizes["longitude"] == 9 * 18
    # Plausible Kelvin, i.e. scale and offset applied once
    assert float(t2m.min()) > 200.0 and float(t2m.max()) < 330.0


def test_legacy_fill_value_becomes_nan(era5_file, tmp_path):
    path = tmp_path / "packed_with_fill.nc"
    shutil.copyfile(era5_file(LEGACY), path)
    path.chmod(0o644)
    with netCDF4.Dataset(path, "a") as nc:
        var = nc.variables["t2m"]
        var.set_auto_maskandscale(False)
        raw = var[:]
        raw[0, 0, 0] = -32767  # latitude 80, longitude 0
        var[:] = raw
    t2m = open_dataset(path)["t2m"].isel(time=0)
    assert np.isnan(float(t2m.sel(latitude=80.0, longitude=0.0)))
    assert int(np.isnan(t2m.values).sum()) == 1


# --- current NetCDF4 ---------------------------------------------------------------------


def test_current_netcdf4_valid_time_and_aux_coords_dropped(era5_file):
    path = era5_file(SW_T2M)
    raw = xr.open_dataset(path)
    assert "valid_time" in raw.dims and "number" in raw.coords and "expver" in raw.coords
    ds = open_dataset(path)
    assert set(ds.dims) == {"time", "latitude", "longitude"}
    assert set(ds.coords) == {"time", "latitude", "longitude"}
    assert list(ds.data_vars) == ["t2m"]
    assert ds.sizes["time"] == 144
    assert pd.Timestamp(ds["time"].values[0]) == pd.Timestamp("2020-07-01T00:00")
    assert pd.Timestamp(ds["time"].values[-1]) == pd.Timestamp("2020-07-06T23:00")
    assert np.all(np.diff(ds["latitude"].values) > 0)
    # Same values as the raw file at one point (raw latitude is descending)
    np.testing.assert_array_equal(
        ds["t2m"].sel(latitude=42.0, longitude=-1.5).values,
        raw["t2m"].sel(latitude=42.0, longitude=-1.5).values,
    )
    assert ds.attrs["source_file"] == str(path)


def test_variables_the_registry_does_not_know_are_dropped(era5_file):
    ds = open_dataset(era5_file(KERALA))
    # The wind components are quantities of the registry (wind speed is made of them);
    # the dew point d2m is not.
    assert sorted(ds.data_vars) == ["t2m", "tp", "u10", "v10"]


@pytest.mark.parametrize("name", [LEGACY, SW_TP])
def test_bytes_equal_path(era5_file, name):
    path = era5_file(name)
    from_path = open_dataset(path).load()
    from_bytes = open_dataset(NamedSource.from_bytes("s3://bucket/key.nc", path.read_bytes()))
    from_raw_bytes = open_dataset(path.read_bytes())
    assert from_bytes.attrs["source_file"] == "s3://bucket/key.nc"
    xr.testing.assert_equal(from_path, from_bytes.load())
    xr.testing.assert_equal(from_path, from_raw_bytes.load())


def test_file_time_range(era5_file):
    info = file_time_range(era5_file(KERALA))
    with xr.open_dataset(era5_file(KERALA)) as raw:
        lat, lon = raw["latitude"].values, raw["longitude"].values
    assert info == {
        "variables": ["t2m", "tp", "u10", "v10"],
        "start": datetime(2025, 9, 11, 0),
        "end": datetime(2025, 9, 11, 18),
        "latitude": (float(lat.min()), float(lat.max())),
        "longitude": (float(lon.min()), float(lon.max())),
    }


# --- joins and windows -------------------------------------------------------------------


def test_instant_and_accum_streams_joined(era5_file):
    t2m_path, tp_path = era5_file(SW_T2M), era5_file(SW_TP)
    ds = load_day([t2m_path, tp_path], date(2020, 7, 2), ["t2m", "tp"])
    assert set(ds.data_vars) == {"t2m", "tp"}
    assert ds["t2m"].dims == ds["tp"].dims == ("time", "latitude", "longitude")
    assert dict(ds.sizes) == {"time": 25, "latitude": 21, "longitude": 21}
    # Each variable holds the 24 samples of its own window (t2m 00..23, tp 01..D+1 00).
    assert np.isfinite(ds["t2m"].values[:24]).all() and np.isnan(ds["t2m"].values[24]).all()
    assert np.isfinite(ds["tp"].values[1:]).all() and np.isnan(ds["tp"].values[0]).all()
    assert ds.attrs["source_files"] == sorted([str(t2m_path), str(tp_path)])
    # Each variable still holds its own file's values on the joined grid
    raw_tp = xr.open_dataset(tp_path)["tp"]
    np.testing.assert_array_equal(
        ds["tp"].sel(time="2020-07-02T13:00", latitude=43.5, longitude=-2.25).values,
        raw_tp.sel(valid_time="2020-07-02T13:00", latitude=43.5, longitude=-2.25).values,
    )
    assert ds["tp"].attrs["source_file"] == str(tp_path)


def test_each_variable_reads_its_rules_window(era5_file):
    """t2m: the instants 00..23 UTC of D; tp: the accumulations ending in (D 00, D+1 00]."""
    ds = load_day([era5_file(FR_T2M), era5_file(FR_TP)], date(2020, 7, 10), ["t2m", "tp"])
    t2m = pd.DatetimeIndex(ds["t2m"].dropna("time", how="all")["time"].values)
    tp = pd.DatetimeIndex(ds["tp"].dropna("time", how="all")["time"].values)
    assert list(t2m) == list(pd.date_range("2020-07-10T00", "2020-07-10T23", freq="h"))
    assert list(tp) == list(pd.date_range("2020-07-10T01", "2020-07-11T00", freq="h"))
    assert sample_window("t2m", date(2020, 7, 31)) == (
        datetime(2020, 7, 31),
        datetime(2020, 8, 1),
        "left",
    )
    assert sample_window("tp", date(2020, 7, 31))[2] == "right"


def test_lat_lon_names_descending_lat_and_0_360_lon(cf_dataset, write_nc):
    lat = [30.0, 20.0, 10.0]  # descending
    lon = np.arange(0.0, 360.0, 45.0)  # 0..315
    times = pd.date_range("2021-01-01", periods=2, freq="h")
    # The value encodes where it came from: 1000 * lat + raw lon (+ 0.5 for the 2nd hour)
    values = np.array([[[1000 * la + lo + 0.5 * h for lo in lon] for la in lat] for h in range(2)])
    ds = cf_dataset(
        {"t2m": values}, times, lat, lon, time_name="time", lat_name="lat", lon_name="lon"
    )
    path = write_nc(ds, "latlon.nc", format="NETCDF3_64BIT")
    out = open_dataset(path)
    assert out["t2m"].dims == ("time", "latitude", "longitude")
    np.testing.assert_array_equal(out["latitude"].values, [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(
        out["longitude"].values, [-180.0, -135.0, -90.0, -45.0, 0.0, 45.0, 90.0, 135.0]
    )
    for h in range(2):
        for la in out["latitude"].values:
            for lo in out["longitude"].values:
                got = float(out["t2m"].isel(time=h).sel(latitude=la, longitude=lo))
                assert got == pytest.approx(1000 * la + (lo % 360.0) + 0.5 * h)


def test_ascending_latitude_kept(cf_dataset, write_nc):
    lat = [-10.0, 0.0, 10.0]
    lon = [-20.0, 0.0, 20.0]
    values = np.arange(9, dtype=float).reshape(1, 3, 3)
    ds = cf_dataset({"tp": values}, ["2021-01-01T01"], lat, lon)
    out = open_dataset(write_nc(ds, "asc.nc"))
    np.testing.assert_array_equal(out["latitude"].values, lat)
    np.testing.assert_array_equal(out["tp"].values, values)


def test_noisy_float32_coordinates_are_rounded(cf_dataset, write_nc):
    lat = np.array([13.1, 13.35], dtype=np.float32).astype(float)  # 13.100000381469727
    lon = np.array([77.6, 77.85], dtype=np.float32).astype(float)
    ds = cf_dataset({"t2m": np.ones((1, 2, 2))}, ["2021-01-01"], lat, lon)
    out = open_dataset(write_nc(ds, "noisy.nc"))
    assert out["latitude"].values.tolist() == [13.1, 13.35]
    assert out["longitude"].values.tolist() == [77.6, 77.85]


def test_expver_dimension_is_collapsed(cf_dataset, write_nc):
    # Legacy files mixing ERA5 (expver 1) and ERA5T (expver 5): each step valid in one member
    times = pd.date_range("2021-01-01", periods=2, freq="h")
    member1 = np.array([1.0, np.nan])[:, None, None] * np.ones((2, 2, 2))
    member5 = np.array([np.nan, 5.0])[:, None, None] * np.ones((2, 2, 2))
    ds = xr.Dataset(
        {"t2m": (("time", "expver", "latitude", "longitude"), np.stack([member1, member5], 1))},
        coords={"time": times, "expver": [1, 5], "latitude": [0.0, 1.0], "longitude": [0.0, 1.0]},
    )
    out = open_dataset(write_nc(ds, "expver.nc"))
    assert out["t2m"].dims == ("time", "latitude", "longitude")
    np.testing.assert_array_equal(out["t2m"].values[:, 0, 0], [1.0, 5.0])


def test_window_across_two_monthly_files(cf_dataset, write_nc):
    lat, lon = [40.0, 40.25], [0.0, 0.25]
    # July file: 2020-07-31 00..23; 1 mm every hour, but 9 mm at 00 UTC (belongs to July 30)
    jul_times = pd.date_range("2020-07-31T00", "2020-07-31T23", freq="h")
    jul = np.full((24, 2, 2), 0.001)
    jul[0] = 0.009
    # August file: 5 mm in the hour ending 2020-08-01 00 UTC, then 7 mm hourly
    aug_times = pd.date_range("2020-08-01T00", "2020-08-01T23", freq="h")
    aug = np.full((24, 2, 2), 0.007)
    aug[0] = 0.005
    jul_path = write_nc(cf_dataset({"tp": jul}, jul_times, lat, lon), "tp_2020-07.nc")
    aug_path = write_nc(cf_dataset({"tp": aug}, aug_times, lat, lon), "tp_2020-08.nc")

    ds = load_day([jul_path, aug_path], date(2020, 7, 31), ["tp"])
    times = pd.DatetimeIndex(ds["time"].values)
    assert len(times) == 24 and times[0] == pd.Timestamp("2020-07-31T01:00")
    assert times[-1] == pd.Timestamp("2020-08-01T00:00")
    assert ds.attrs["source_files"] == sorted([str(jul_path), str(aug_path)])
    field = daily_field(ds, "tp", date(2020, 7, 31), "era5")
    assert field.complete
    # 23 hours of 1 mm (01..23 UTC) plus 5 mm at D+1 00 UTC; the 9 mm at D 00 is excluded
    np.testing.assert_allclose(field.data.values, 28.0, atol=1e-4)

    # File order must not matter
    swapped = load_day([aug_path, jul_path], date(2020, 7, 31), ["tp"])
    xr.testing.assert_equal(ds, swapped)


def test_window_across_split_real_file(era5_file, write_nc):
    """The real month split into two files gives the same day as the whole file."""
    path = era5_file(FR_TP)
    raw = xr.open_dataset(path).isel(latitude=slice(0, 12), longitude=slice(0, 12))
    first = raw.sel(valid_time=slice("2020-07-14", "2020-07-15T23:00"))
    second = raw.sel(valid_time=slice("2020-07-16", "2020-07-16T23:00"))
    p1, p2 = write_nc(first, "part1.nc"), write_nc(second, "part2.nc")
    split = load_day([p1, p2], date(2020, 7, 15), ["tp"])
    whole = load_day([path], date(2020, 7, 15), ["tp"]).sel(
        latitude=split["latitude"], longitude=split["longitude"]
    )
    assert split.sizes["time"] == 24
    np.testing.assert_array_equal(split["tp"].values, whole["tp"].values)


def test_identical_duplicates_count_once(cf_dataset, write_nc):
    """Two files holding the same samples (a re-download, overlapping requests)."""
    lat, lon = [0.0, 1.0], [0.0, 1.0]
    times = pd.date_range("2020-01-01T00", periods=4, freq="h")
    values = 280.0 + np.arange(4 * 4, dtype=float).reshape(4, 2, 2)
    a = write_nc(cf_dataset({"t2m": values[:3]}, times[:3], lat, lon), "a.nc")
    # b overlaps a at 01 and 02 UTC with the same values, in degC and as float64
    b_ds = cf_dataset({"t2m": values[1:] - 273.15}, times[1:], lat, lon)
    b_ds["t2m"] = b_ds["t2m"].astype("float64").assign_attrs(units="degC")
    b = write_nc(b_ds, "b.nc")
    ds = load_window([a, b], datetime(2020, 1, 1), datetime(2020, 1, 1, 3), ["t2m"])
    assert ds.sizes["time"] == 4
    np.testing.assert_allclose(ds["t2m"].values, values, rtol=1e-6)
    assert ds.attrs["source_files"] == [str(a), str(b)]


def test_conflicting_duplicates_fail_naming_both_files(cf_dataset, write_nc):
    lat, lon = [0.0, 1.0], [0.0, 1.0]
    times = pd.date_range("2020-01-01T00", periods=3, freq="h")
    a = write_nc(cf_dataset({"t2m": np.full((3, 2, 2), 280.0)}, times, lat, lon), "a.nc")
    b = write_nc(cf_dataset({"t2m": np.full((3, 2, 2), 280.5)}, times, lat, lon), "b.nc")
    with pytest.raises(InputError) as err:
        load_window([a, b], datetime(2020, 1, 1), datetime(2020, 1, 1, 3), ["t2m"])
    text = str(err.value)
    assert str(a) in text and str(b) in text
    assert "conflicting samples at 2020-01-01T00:00" in text
    assert "0.5 K" in text
    assert err.value.variable == "t2m"


def test_all_nan_copy_is_a_missing_sample_not_a_conflict(cf_dataset, write_nc):
    """An all-NaN step (unpublished ERA5T tail) yields to a file that has the data."""
    lat, lon = [0.0, 1.0], [0.0, 1.0]
    times = pd.date_range("2020-01-01T00", periods=2, freq="h")
    placeholder = np.full((2, 2, 2), np.nan)
    placeholder[0] = 281.0
    a = write_nc(cf_dataset({"t2m": placeholder}, times, lat, lon), "a.nc")
    b = write_nc(cf_dataset({"t2m": np.full((1, 2, 2), 282.0)}, times[1:], lat, lon), "b.nc")
    ds = load_window([a, b], datetime(2020, 1, 1), datetime(2020, 1, 1, 1), ["t2m"])
    np.testing.assert_array_equal(ds["t2m"].values[:, 0, 0], [281.0, 282.0])


def test_files_of_one_variable_on_different_grids_fail_naming_both(cf_dataset, write_nc):
    times = pd.date_range("2020-01-01T00", periods=2, freq="h")
    a = write_nc(cf_dataset({"t2m": np.ones((1, 3, 3))}, times[:1], [0, 1, 2], [0, 1, 2]), "a.nc")
    b = write_nc(cf_dataset({"t2m": np.ones((1, 2, 2))}, times[1:], [0, 1], [0, 1]), "b.nc")
    with pytest.raises(InputError) as err:
        load_window([a, b], datetime(2020, 1, 1), datetime(2020, 1, 1, 1), ["t2m"])
    text = str(err.value)
    assert "different grids" in text and str(a) in text and str(b) in text
    assert "3x3 (lat 0..2 step 1, lon 0..2 step 1)" in text
    assert "2x2 (lat 0..1 step 1, lon 0..1 step 1)" in text


def test_subgrid_file_of_the_next_day_does_not_concern_t2m_of_this_day(cf_dataset, write_nc):
    """A file starting at D+1 00 UTC on another grid: D's t2m never reads it."""
    day_times = pd.date_range("2020-01-01T00", periods=24, freq="h")
    a = write_nc(
        cf_dataset({"t2m": np.full((24, 3, 3), 280.0)}, day_times, [0, 1, 2], [0, 1, 2]), "a.nc"
    )
    next_day = pd.date_range("2020-01-02T00", periods=24, freq="h")
    b = write_nc(cf_dataset({"t2m": np.full((24, 2, 2), 290.0)}, next_day, [0, 1], [0, 1]), "b.nc")
    ds = load_day([a, b], date(2020, 1, 1), ["t2m"])
    assert ds.sizes == {"time": 24, "latitude": 3, "longitude": 3}
    assert ds.attrs["source_files"] == [str(a)]


def test_different_grids_refused(cf_dataset, write_nc):
    times = ["2020-01-01T00"]
    a = write_nc(cf_dataset({"t2m": np.ones((1, 2, 2))}, times, [0.0, 1.0], [0.0, 1.0]), "a.nc")
    b = write_nc(cf_dataset({"tp": np.ones((1, 2, 2))}, times, [0.0, 1.0], [5.0, 6.0]), "b.nc")
    with pytest.raises(InputError, match="different grids"):
        load_window([a, b], datetime(2020, 1, 1), datetime(2020, 1, 1), ["t2m", "tp"])


# --- errors ------------------------------------------------------------------------------


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "corrupt.nc"
    path.write_bytes(np.random.default_rng(42).bytes(8192))
    with pytest.raises(InputError) as err:
        open_dataset(path)
    assert err.value.file == str(path)
    assert str(path) in str(err.value)
    with pytest.raises(InputError) as err:
        open_dataset(NamedSource.from_bytes("s3://bucket/corrupt.nc", path.read_bytes()))
    assert err.value.file == "s3://bucket/corrupt.nc"
    assert "s3://bucket/corrupt.nc" in str(err.value)


@pytest.mark.parametrize("name", [FR_T2M, LEGACY])
def test_truncated_real_file_names_the_file(era5_file, tmp_path, name):
    data = era5_file(name).read_bytes()
    path = tmp_path / f"truncated_{name}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        load_day([path], date(2020, 7, 1), ["t2m"])
    assert err.value.file == str(path)
    assert str(path) in str(err.value)


def test_missing_variable_names_the_variable(era5_file):
    path = era5_file(SW_T2M)
    with pytest.raises(InputError) as err:
        load_day([path], date(2020, 7, 2), ["t2m", "tp"])
    assert err.value.variable == "tp"
    assert "variable tp" in str(err.value)
    assert err.value.day == date(2020, 7, 2)


def test_day_outside_file_names_the_variable(era5_file):
    with pytest.raises(InputError) as err:
        load_day([era5_file(SW_T2M)], date(2020, 8, 15), ["t2m"])
    assert err.value.variable == "t2m"


def test_file_without_known_variable(cf_dataset, write_nc):
    ds = cf_dataset({"d2m": np.ones((1, 2, 2))}, ["2020-01-01"], [0.0, 1.0], [0.0, 1.0])
    path = write_nc(ds, "d2m_only.nc")
    with pytest.raises(InputError, match=r"no variable of the registry \(found d2m;") as err:
        open_dataset(path)
    assert err.value.file == str(path)


def test_file_without_latitude(tmp_path):
    ds = xr.Dataset(
        {"t2m": (("time", "y", "longitude"), np.ones((1, 2, 2)))},
        coords={"time": pd.to_datetime(["2020-01-01"]), "longitude": [0.0, 1.0]},
    )
    path = tmp_path / "nolat.nc"
    ds.to_netcdf(path)
    with pytest.raises(InputError, match="no latitude coordinate") as err:
        open_dataset(path)
    assert err.value.file == str(path)

"""Tests of the synthetic ERA5 sample: on-disk layout, hour coverage, values."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from datetime import date
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

from era5_contours.inputs.datasets import SAMPLE_ATTR
from era5_tools.sample import generate_sample, main, make_grid, terrain_height

# A 9 x 9 grid keeps the calendar tests fast.
SMALL = (0.0, 40.0, 2.0, 42.0)


def _hours(first: str, last: str) -> np.ndarray:
    one = np.timedelta64(1, "h")
    return np.arange(np.datetime64(first, "h"), np.datetime64(last, "h") + one, one)


def _open(path: Path, **kwargs) -> xr.Dataset:
    with xr.open_dataset(path, **kwargs) as ds:
        return ds.load()


@pytest.fixture(scope="module")
def default_sample(tmp_path_factory) -> list[Path]:
    """The sample with every default: Western Europe, 2024-07-01..03, seed 0."""
    return generate_sample(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def t2m(default_sample) -> xr.DataArray:
    return _open(default_sample[0])["t2m"]


@pytest.fixture(scope="module")
def tp(default_sample) -> xr.DataArray:
    return _open(default_sample[1])["tp"]


def _daily_totals_mm(tp: xr.DataArray, days: list[str]) -> np.ndarray:
    """ERA5 rule, written out: total(D) = sum over valid_time in (D 00:00, D+1 00:00]."""
    out = []
    for day in days:
        d0 = np.datetime64(day, "h")
        sel = (tp.valid_time > d0) & (tp.valid_time <= d0 + np.timedelta64(24, "h"))
        assert int(sel.sum()) == 24
        out.append(tp.sel(valid_time=sel).sum("valid_time").values * 1000.0)
    return np.stack(out)


def test_default_files_and_no_leftovers(default_sample):
    folder = default_sample[0].parent
    assert [p.name for p in default_sample] == [
        "era5_sample_2024-07_instant_t2m.nc",
        "era5_sample_2024-07_accum_tp.nc",
    ]
    # Temp files of the atomic write must be gone.
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in default_sample)
    total = sum(p.stat().st_size for p in default_sample)
    assert 100_000 < total < 10_000_000


def test_raw_on_disk_layout(default_sample):
    for path, name, units, step_type, short in (
        (default_sample[0], "t2m", "K", "instant", "2t"),
        (default_sample[1], "tp", "m", "accum", "tp"),
    ):
        ds = _open(path, decode_times=False)
        var = ds[name]
        assert var.dims == ("valid_time", "latitude", "longitude")
        assert var.shape[1:] == (101, 121)
        assert var.dtype == np.float32
        assert var.attrs["units"] == units
        assert var.attrs["GRIB_stepType"] == step_type
        assert var.attrs["GRIB_shortName"] == short
        assert var.attrs["long_name"]
        assert "scale_factor" not in var.encoding and "add_offset" not in var.encoding
        assert np.isnan(var.encoding["_FillValue"])
        assert var.encoding["zlib"] is True

        vt = ds["valid_time"]
        assert vt.dtype == np.int64
        assert vt.attrs["units"] == "seconds since 1970-01-01"
        assert vt.attrs["calendar"] == "proleptic_gregorian"
        assert vt.attrs["standard_name"] == "time"
        assert int(vt[0]) == int(
            (np.datetime64("2024-07-01T00:00") - np.datetime64("1970-01-01T00:00"))
            / np.timedelta64(1, "s")
        )
        assert np.all(np.diff(vt.values) == 3600)

        lat, lon = ds["latitude"].values, ds["longitude"].values
        assert lat.dtype == np.float64 and lon.dtype == np.float64
        assert lat[0] == 60.0 and lat[-1] == 35.0 and np.allclose(np.diff(lat), -0.25)
        assert lon[0] == -10.0 and lon[-1] == 20.0 and np.allclose(np.diff(lon), 0.25)
        assert ds["latitude"].attrs["units"] == "degrees_north"
        assert ds["longitude"].attrs["units"] == "degrees_east"
        assert ds["latitude"].attrs["standard_name"] == "latitude"

        assert ds["number"].dims == () and ds["number"].dtype == np.int64
        assert int(ds["number"]) == 0
        assert ds["expver"].dims == ("valid_time",)
        assert set(ds["expver"].values.tolist()) == {"0001"}

        assert ds.attrs["Conventions"] == "CF-1.7"
        assert ds.attrs["institution"]
        assert "synthetic" in ds.attrs["history"].lower()

        # What xarray hides: the HDF5 storage itself.
        with netCDF4.Dataset(path) as nc:
            assert nc.data_model == "NETCDF4"
            assert nc["expver"].dtype is str
            filters = nc[name].filters()
            assert filters["zlib"] and filters["shuffle"]
            assert set(nc[name].getncattr("coordinates").split()) >= {"number", "expver"}


def test_hour_coverage_includes_next_day_midnight(t2m, tp):
    expected = _hours("2024-07-01T00", "2024-07-04T00")
    np.testing.assert_array_equal(tp.valid_time.values, expected.astype("datetime64[ns]"))
    # Both streams share one time axis, like a CDS request for the same steps.
    np.testing.assert_array_equal(t2m.valid_time.values, tp.valid_time.values)
    for day in ("2024-07-01", "2024-07-02", "2024-07-03"):
        d0 = np.datetime64(day, "h")
        t = t2m.valid_time.values
        assert ((t >= d0) & (t < d0 + np.timedelta64(24, "h"))).sum() == 24


def test_month_boundary_split(tmp_path):
    paths = generate_sample(tmp_path, date(2024, 1, 30), date(2024, 2, 1), bounds=SMALL)
    assert [p.name for p in paths] == [
        "era5_sample_2024-01_instant_t2m.nc",
        "era5_sample_2024-01_accum_tp.nc",
        "era5_sample_2024-02_instant_t2m.nc",
        "era5_sample_2024-02_accum_tp.nc",
    ]
    jan, feb = _open(paths[1])["tp"], _open(paths[3])["tp"]
    np.testing.assert_array_equal(
        jan.valid_time.values, _hours("2024-01-30T00", "2024-01-31T23").astype("datetime64[ns]")
    )
    # The step closing January 31 lives in the February file, as in CDS monthly files.
    np.testing.assert_array_equal(
        feb.valid_time.values, _hours("2024-02-01T00", "2024-02-02T00").astype("datetime64[ns]")
    )
    both = xr.concat([jan, feb], dim="valid_time")
    assert _daily_totals_mm(both, ["2024-01-30", "2024-01-31", "2024-02-01"]).shape[0] == 3
    for p_inst, p_acc in ((paths[0], paths[1]), (paths[2], paths[3])):
        np.testing.assert_array_equal(
            _open(p_inst).valid_time.values, _open(p_acc).valid_time.values
        )


def test_range_ending_on_last_day_of_month(tmp_path):
    paths = generate_sample(tmp_path, date(2024, 2, 28), date(2024, 2, 29), bounds=SMALL)
    assert [p.name for p in paths] == [
        "era5_sample_2024-02_instant_t2m.nc",
        "era5_sample_2024-02_accum_tp.nc",
        "era5_sample_2024-03_instant_t2m.nc",
        "era5_sample_2024-03_accum_tp.nc",
    ]
    assert _open(paths[1]).sizes["valid_time"] == 48
    march = _open(paths[3])
    assert march.valid_time.values.tolist() == [np.datetime64("2024-03-01T00", "ns").item()]


def test_values_do_not_depend_on_requested_range(tmp_path):
    # A coarse but wide domain, so that long-lived fronts born before or after the
    # short range are in play.
    grid = {"bounds": (-10.0, 35.0, 20.0, 60.0), "resolution": 1.0}
    long = generate_sample(tmp_path / "a", date(2024, 1, 29), date(2024, 2, 2), **grid)
    short = generate_sample(tmp_path / "b", date(2024, 1, 31), date(2024, 1, 31), **grid)
    for i in range(4):
        a, b = _open(long[i]), _open(short[i])
        name = next(iter(b.data_vars))
        common = np.intersect1d(a.valid_time.values, b.valid_time.values)
        assert common.size == b.sizes["valid_time"]
        np.testing.assert_array_equal(
            a[name].sel(valid_time=common).values, b[name].sel(valid_time=common).values
        )


def test_t2m_plausible_gradient_and_diurnal_cycle(t2m):
    v = t2m.values
    assert np.isfinite(v).all()
    assert v.min() > 250.0 and v.max() < 320.0
    south = float(t2m.sel(latitude=slice(40, 35)).mean())
    north = float(t2m.sel(latitude=slice(60, 55)).mean())
    assert south - north > 3.0
    # Mean diurnal composite over three days: warmest near 14 local solar time, which
    # is about two hours earlier in UTC at 20E than at 10W.
    peaks = {}
    for lon in (-10.0, 20.0):
        comp = t2m.sel(longitude=lon).isel(valid_time=slice(0, 72)).mean("latitude")
        peaks[lon] = int(comp.values.reshape(3, 24).mean(axis=0).argmax())
    assert 13 <= peaks[-10.0] <= 16
    assert 11 <= peaks[20.0] <= 14
    assert peaks[-10.0] > peaks[20.0]


def test_t2m_lapse_rate_over_terrain(t2m):
    lat, lon = t2m.latitude.values, t2m.longitude.values
    height_km = terrain_height(lat, lon, (-10.0, 35.0, 20.0, 60.0), 0) / 1000.0
    assert height_km.max() > 1.5
    mean = t2m.isel(valid_time=slice(0, 72)).mean("valid_time").values
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    # A smooth cubic background absorbs the latitude gradient and the synoptic waves.
    cols = [np.ones(mean.size)]
    cols += [(la**i * lo**j).ravel() for i in range(4) for j in range(4) if 0 < i + j <= 3]
    cols.append(height_km.ravel())
    coef = np.linalg.lstsq(np.column_stack(cols), mean.ravel(), rcond=None)[0]
    assert -8.0 < coef[-1] < -4.5  # K/km, ~ -6.5


def test_tp_hourly_values_are_not_cumulative(tp):
    v = tp.values
    assert np.isfinite(v).all() and v.min() >= 0.0
    assert (v == 0).mean() > 0.5  # mostly dry
    assert 0.002 < v.max() < 0.015  # a few mm/h at most, in metres
    days = ["2024-07-01", "2024-07-02", "2024-07-03"]
    totals = _daily_totals_mm(tp, days)
    monotonic = last_is_total = rainy = 0
    for k, day in enumerate(days):
        d0 = np.datetime64(day, "h")
        sel = (tp.valid_time > d0) & (tp.valid_time <= d0 + np.timedelta64(24, "h"))
        series = tp.sel(valid_time=sel).values.reshape(24, -1) * 1000.0
        wet = totals[k].ravel() > 1.0
        rainy += wet.sum()
        monotonic += np.all(np.diff(series[:, wet], axis=0) >= 0, axis=0).sum()
        last_is_total += (series[-1, wet] >= 0.9 * totals[k].ravel()[wet]).sum()
    assert rainy > 100
    # Accumulated-since-00UTC data (ERA5-Land) would be monotonic with last == total.
    assert monotonic / rainy < 0.1
    assert last_is_total / rainy < 0.1


def test_daily_totals_spread_over_levels(tp):
    totals = _daily_totals_mm(tp, ["2024-07-01", "2024-07-02", "2024-07-03"])
    assert totals.max() < 100.0
    edges = [0.1, 1.0, 5.0, 20.0, math.inf]
    for lo, hi in itertools.pairwise(edges):
        assert ((totals >= lo) & (totals < hi)).sum() > 0, (lo, hi)
    assert (totals < 0.1).mean() > 0.3
    # Every day has rain somewhere.
    assert (totals.reshape(3, -1).max(axis=1) > 5.0).all()


def test_same_seed_same_data_other_seed_differs(tmp_path):
    a = generate_sample(tmp_path / "a", date(2024, 7, 1), date(2024, 7, 1), bounds=SMALL)
    b = generate_sample(tmp_path / "b", date(2024, 7, 1), date(2024, 7, 1), bounds=SMALL)
    c = generate_sample(tmp_path / "c", date(2024, 7, 1), date(2024, 7, 1), bounds=SMALL, seed=1)
    for name, i in (("t2m", 0), ("tp", 1)):
        va, vb, vc = (_open(p[i])[name].values for p in (a, b, c))
        assert va.tobytes() == vb.tobytes()
        assert va.tobytes() != vc.tobytes()


def test_custom_grid_and_grib_grid_attrs(tmp_path):
    paths = generate_sample(
        tmp_path,
        date(2024, 3, 10),
        date(2024, 3, 10),
        bounds=(-5, 40, 0, 45),
        resolution=0.5,
        prefix="demo",
    )
    assert [p.name for p in paths] == ["demo_2024-03_instant_t2m.nc", "demo_2024-03_accum_tp.nc"]
    ds = _open(paths[1], decode_times=False)
    np.testing.assert_array_equal(ds.latitude.values, np.arange(45.0, 39.9, -0.5))
    np.testing.assert_array_equal(ds.longitude.values, np.arange(-5.0, 0.1, 0.5))
    attrs = ds["tp"].attrs
    assert (attrs["GRIB_Nx"], attrs["GRIB_Ny"], attrs["GRIB_numberOfPoints"]) == (11, 11, 121)
    assert attrs["GRIB_iDirectionIncrementInDegrees"] == 0.5
    assert attrs["GRIB_latitudeOfFirstGridPointInDegrees"] == 45.0
    assert attrs["GRIB_longitudeOfLastGridPointInDegrees"] == 0.0
    assert ds.sizes["valid_time"] == 25


@pytest.mark.parametrize(
    "bounds, resolution",
    [((-10, 35, 20, 60), 0.3), ((20, 35, -10, 60), 0.25), ((-10, 35, 200, 60), 0.25)],
)
def test_invalid_grid_rejected(bounds, resolution):
    with pytest.raises(ValueError):
        make_grid(bounds, resolution)


def test_end_before_start_rejected(tmp_path):
    with pytest.raises(ValueError):
        generate_sample(tmp_path, date(2024, 7, 3), date(2024, 7, 1))


def test_rewrite_replaces_existing_files(tmp_path):
    first = generate_sample(tmp_path, date(2024, 7, 1), date(2024, 7, 1), bounds=SMALL)
    again = generate_sample(tmp_path, date(2024, 7, 1), date(2024, 7, 1), bounds=SMALL, seed=5)
    assert first == again
    assert sorted(tmp_path.iterdir()) == sorted(again)
    assert "seed=5" in _open(again[1]).attrs["history"]


def test_cli_prints_written_files(tmp_path, capsys):
    argv = ["--output_dir", str(tmp_path), "--start_date", "2024-07-01"]
    argv += ["--end_date", "2024-07-02", "--bounds", "0", "40", "2", "42"]
    assert main(argv) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [
        str(tmp_path / "era5_sample_2024-07_instant_t2m.nc"),
        str(tmp_path / "era5_sample_2024-07_accum_tp.nc"),
    ]
    assert _open(Path(printed[1])).sizes["valid_time"] == 49


def test_cli_rejects_reversed_dates(tmp_path, capsys):
    argv = ["--output_dir", str(tmp_path), "--start_date", "2024-07-03", "--end_date", "2024-07-01"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "before" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_runs_as_module(tmp_path):
    cmd = [sys.executable, "-m", "era5_tools.sample", "--output_dir", str(tmp_path)]
    cmd += [
        "--start_date",
        "2024-07-01",
        "--end_date",
        "2024-07-01",
        "--bounds",
        "0",
        "40",
        "2",
        "42",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120)
    assert len(result.stdout.split()) == 2
    assert all(Path(p).is_file() for p in result.stdout.split())


@pytest.mark.parametrize(
    "real_name, index, name",
    [
        ("era5_swfrance_2020-07-01_06_hourly_instant_t2m.nc", 0, "t2m"),
        ("era5_swfrance_2020-07-01_06_hourly_accum_tp.nc", 1, "tp"),
    ],
)
def test_layout_matches_real_cds_file(default_sample, era5_file, real_name, index, name):
    # The real files are in tests/data/era5 (era5_file, conftest).
    real_path = era5_file(real_name)
    real = _open(real_path, decode_times=False)
    ours = _open(default_sample[index], decode_times=False)
    assert set(ours.dims) == set(real.dims)
    assert set(ours.coords) == set(real.coords)
    assert list(ours.data_vars) == list(real.data_vars) == [name]
    assert ours[name].dims == real[name].dims
    for var in [*real.coords, name]:
        assert ours[var].dtype == real[var].dtype, var
        assert ours[var].dims == real[var].dims, var
        assert set(ours[var].attrs) == set(real[var].attrs), var
    # The real file's global attributes, and the sample's mark (the job carries it to
    # the maps as "synthetic sample").
    assert set(ours.attrs) == set(real.attrs) | {SAMPLE_ATTR}
    assert "synthetic" in ours.attrs[SAMPLE_ATTR]
    for key in (
        "units",
        "long_name",
        "standard_name",
        "GRIB_paramId",
        "GRIB_stepType",
        "GRIB_shortName",
        "GRIB_dataType",
        "GRIB_typeOfLevel",
        "GRIB_gridType",
    ):
        assert ours[name].attrs[key] == real[name].attrs[key], key
    for var in real.coords:
        for key in ("units", "calendar", "standard_name", "stored_direction"):
            if key in real[var].attrs:
                assert ours[var].attrs[key] == real[var].attrs[key], (var, key)
    for key in ("zlib", "shuffle", "complevel", "coordinates"):
        assert ours[name].encoding[key] == real[name].encoding[key], key
    assert np.isnan(ours[name].encoding["_FillValue"]) and np.isnan(
        real[name].encoding["_FillValue"]
    )
    with netCDF4.Dataset(real_path) as r, netCDF4.Dataset(default_sample[index]) as o:
        assert r.data_model == o.data_model
        assert r["expver"].dtype is o["expver"].dtype is str
        assert r[name].chunking() == list(r[name].shape)
        assert o[name].chunking() == list(o[name].shape)


# --- ERA5-Land ---------------------------------------------------------------------------

LAND_BOUNDS = (-6.0, 42.0, 0.0, 46.0)  # Bay of Biscay and south-west France: sea and land


@pytest.fixture(scope="module")
def land_sample(tmp_path_factory) -> dict[str, object]:
    """ERA5-Land and ERA5 samples of the same seed and grid, over a month boundary."""
    base = tmp_path_factory.mktemp("land")
    kwargs = {"bounds": LAND_BOUNDS, "start": "2024-07-30", "end": "2024-07-31"}
    land = generate_sample(base / "land", dataset="era5-land", **kwargs)
    era5 = generate_sample(base / "era5", resolution=0.1, **kwargs)
    return {"land": land, "era5": era5}


def _concat(paths: list[Path], name: str) -> xr.DataArray:
    return xr.concat([_open(p)[name] for p in paths if name in p.stem], "valid_time")


def test_land_files_hold_both_variables_on_a_tenth_degree_grid(land_sample):
    land = land_sample["land"]
    assert [p.name for p in land] == [
        "era5land_sample_2024-07_t2m_tp.nc",
        "era5land_sample_2024-08_t2m_tp.nc",
    ]
    ds = _open(land[0])
    assert list(ds.data_vars) == ["t2m", "tp"]
    np.testing.assert_allclose(np.diff(ds["latitude"].values), -0.1, atol=1e-9)
    np.testing.assert_allclose(np.diff(ds["longitude"].values), 0.1, atol=1e-9)
    assert ds["tp"].attrs["GRIB_stepType"] == "accum"
    assert "ERA5-Land" in ds.attrs["history"]
    # The next month's file holds only the D+1 00 UTC step closing July 31.
    times = _open(land[1])["valid_time"].values
    np.testing.assert_array_equal(times, [np.datetime64("2024-08-01T00:00", "ns")])


def test_land_layout_matches_real_era5_land_file(land_sample, era5_file):
    real = _open(era5_file("era5land_kerala_2025-09-11_hourly_t2m_tp.nc"), decode_times=False)
    ours = _open(land_sample["land"][0], decode_times=False)
    assert set(ours.dims) == set(real.dims)
    assert set(ours.coords) == set(real.coords)
    for name in ("t2m", "tp"):
        assert ours[name].dims == real[name].dims
        assert ours[name].dtype == real[name].dtype
        for key in ("units", "GRIB_stepType", "GRIB_shortName", "GRIB_paramId"):
            assert ours[name].attrs[key] == real[name].attrs[key], (name, key)


def test_land_sea_is_nan_where_natural_earth_has_no_land(land_sample):
    """Independent: shapely point-in-polygon on the countries read straight from the zip."""
    import shapefile
    import shapely
    from shapely.geometry import shape

    from era5_contours.outputs.borders import _ne_zip_path

    ds = _open(land_sample["land"][0])
    lat, lon = ds["latitude"].values, ds["longitude"].values
    import io
    import zipfile

    with zipfile.ZipFile(_ne_zip_path()) as zf:
        stem = "ne_10m_admin_0_countries_deu"
        reader = shapefile.Reader(
            shp=io.BytesIO(zf.read(f"{stem}.shp")), shx=io.BytesIO(zf.read(f"{stem}.shx"))
        )
        box = shapely.box(lon.min() - 1, lat.min() - 1, lon.max() + 1, lat.max() + 1)
        countries = [shape(s.__geo_interface__) for s in reader.iterShapes()]
        reader.close()
    land = shapely.union_all([c for c in countries if c.intersects(box)])
    lon2, lat2 = np.meshgrid(lon, lat)
    on_land = shapely.contains_xy(land, lon2, lat2)
    near_coast = shapely.distance(land.boundary, shapely.points(lon2, lat2)) < 1e-6
    for name in ("t2m", "tp"):
        nan = np.isnan(ds[name].values).all(axis=0)
        assert np.array_equal(nan[~near_coast], ~on_land[~near_coast]), name
        assert not np.isnan(ds[name].values[:, ~nan]).any()  # land has every hour
    assert 0.2 < nan.mean() < 0.8  # both sea and land in this box


def test_land_tp_is_accumulated_since_00_utc(land_sample):
    """Independent: ERA5's hourly values of the same seed, summed by hand."""
    land = _concat(land_sample["land"], "tp")
    hourly = _concat(land_sample["era5"], "tp")
    np.testing.assert_array_equal(land["valid_time"].values, hourly["valid_time"].values)
    wet = ~np.isnan(land.values[0])
    for day in ("2024-07-30", "2024-07-31"):
        d0 = np.datetime64(day, "h")
        window = (hourly.valid_time > d0) & (hourly.valid_time <= d0 + np.timedelta64(24, "h"))
        total = hourly.sel(valid_time=window).sum("valid_time").values
        closing = land.sel(valid_time=d0 + np.timedelta64(24, "h")).values
        np.testing.assert_allclose(closing[wet], total[wet], rtol=1e-6, atol=1e-9)
        # 01 UTC starts the accumulation again: the first hour alone
        first = d0 + np.timedelta64(1, "h")
        np.testing.assert_allclose(
            land.sel(valid_time=first).values[wet],
            hourly.sel(valid_time=first).values[wet],
            rtol=1e-6,
        )
        steps = np.diff(land.sel(valid_time=window).values[:, wet], axis=0)
        assert steps.min() >= 0.0  # never decreases within the day
    assert np.nanmax(land.values) > 0.005  # some rain, so the checks above can fail


def test_land_sample_through_the_library(land_sample):
    from era5_contours.science.daily import read_daily

    acc = read_daily(land_sample["land"], date(2024, 7, 31), "tp")
    detection = acc.detect()
    assert detection.dataset == "era5-land", detection
    field = acc.field(detection.dataset)
    assert field.complete and np.isnan(field.data.values).any()


def test_cli_era5_land_defaults(tmp_path):
    assert main(
        [
            "--output_dir", str(tmp_path), "--dataset", "era5-land",
            "--start_date", "2024-07-01", "--end_date", "2024-07-01",
            "--bounds", "0", "42", "1", "43",
        ]
    ) == 0  # fmt: skip
    (path,) = tmp_path.glob("*.nc")
    assert path.name == "era5land_sample_2024-07_t2m_tp.nc"
    assert _open(path).sizes["latitude"] == 11  # 0.1 degree


def test_the_sample_says_it_is_a_sample_on_its_maps(tmp_path, era5_file):
    """The files' mark reaches the daily field, the GeoJSON and the PNG title; real data don't."""
    import json

    from era5_contours.outputs.plots import map_title
    from era5_contours.run.config import JobConfig
    from era5_contours.run.tasks import contour_outputs
    from era5_contours.science.daily import read_daily

    day = date(2024, 7, 1)
    files = generate_sample(tmp_path, day, day, bounds=(0.0, 40.0, 4.0, 43.0), resolution=0.25)
    config = JobConfig.from_args(
        {"input_path": str(tmp_path), "output_path": str(tmp_path / "out"),
         "start_date": "2024-07-01", "end_date": "2024-07-01"}
    )  # fmt: skip
    field = read_daily(files, day, "t2m").field("era5")
    assert field.data.attrs[SAMPLE_ATTR].startswith("era5_tools.sample")
    assert map_title(field.data).endswith("(synthetic sample)")
    _, geojson, png = contour_outputs(field, config, [str(f) for f in files])
    features = json.loads(geojson)["features"]
    assert features and all(f["properties"]["synthetic"] is True for f in features)
    assert png is not None

    real = read_daily([era5_file("era5_swfrance_2020-07-01_06_hourly_instant_t2m.nc")],
                      date(2020, 7, 1), "t2m", dataset="era5")  # fmt: skip
    assert real.sample is None
    assert SAMPLE_ATTR not in real.field("era5").data.attrs

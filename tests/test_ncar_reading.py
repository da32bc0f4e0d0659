"""Reading the NSF NCAR copy's layout: forecasts of accumulations, 0..360 grids, areas.

The files are built by tests/ncar_layout.py from the real France July 2020 CDS files; the
daily values are compared with the same days computed by xarray from those CDS-layout
originals (not with the library).
"""

from __future__ import annotations

from datetime import date

import netCDF4
import numpy as np
import pytest
import xarray as xr
from independent import era5_daily
from ncar_layout import build
from realdata import FRANCE_T2M, FRANCE_TP, require

from era5_common.area import Area
from era5_common.errors import InputError
from era5_contours.inputs.netcdf import file_time_range
from era5_contours.science.daily import read_daily

#: Reading depends on the runtime's netCDF4, h5py and numpy: the Glue lanes run these.
pytestmark = pytest.mark.runtime

DAYS = [date(2020, 7, 1), date(2020, 7, 15), date(2020, 7, 16), date(2020, 7, 30)]
FRANCE = Area(52.0, -6.0, 40.0, 10.0)


@pytest.fixture(scope="module")
def regional(tmp_path_factory):
    require(FRANCE_T2M, FRANCE_TP)
    return build(tmp_path_factory.mktemp("ncar"), grid="regional", tp_as="tp")


@pytest.fixture(scope="module")
def regional_pair(tmp_path_factory):
    require(FRANCE_T2M, FRANCE_TP)
    return build(tmp_path_factory.mktemp("ncar_pair"), grid="regional", tp_as="lsp+cp")


@pytest.fixture(scope="module")
def global_files(tmp_path_factory):
    require(FRANCE_T2M, FRANCE_TP)
    return build(tmp_path_factory.mktemp("ncar_global"), grid="global", days=DAYS, tp_as="lsp+cp")


def _field(files, day, name, area=None):
    return read_daily(files, day, name, area=area).field("era5")


@pytest.mark.parametrize("day", DAYS, ids=str)
def test_forecast_files_give_the_cds_daily_values(regional, regional_pair, day):
    # Independently, with xarray on the CDS-layout originals (its float32 mean: 1e-4).
    expected = era5_daily(day, FRANCE_T2M, FRANCE_TP)
    originals = {v: _field([FRANCE_T2M, FRANCE_TP], day, v).data.values for v in ("t2m", "tp")}
    for files in (regional, regional_pair):  # TP itself, and LSP + CP
        for name in ("t2m", "tp"):
            field = _field(files, day, name)
            assert field.complete and field.samples == 24
            # The same day read from the CDS's layout and from NCAR's: within 1e-6.
            np.testing.assert_allclose(field.data.values, originals[name], atol=1e-6, rtol=0)
            np.testing.assert_allclose(field.data.values, expected[name][::-1], atol=1e-4)


def test_valid_times_come_from_initial_time_plus_forecast_hour(regional):
    june = next(p for p in regional if "2020061606" in p.name)
    info = file_time_range(june)
    # Forecasts 06-16 06 UTC .. 06-30 18 UTC, hours 1..12: valid 06-16 07 .. 07-01 06.
    assert (info["start"].isoformat(), info["end"].isoformat()) == (
        "2020-06-16T07:00:00",
        "2020-07-01T06:00:00",
    )
    assert info["variables"] == ["tp"]
    assert info["longitude"][0] >= -180 and info["longitude"][1] < 180


def _broken_copy(path, tmp_path, change):
    target = tmp_path / path.name
    target.write_bytes(path.read_bytes())
    with netCDF4.Dataset(target, "a") as nc:
        change(nc)
    return target


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda nc: nc["forecast_hour"].__setitem__(slice(None), np.arange(0, 12)), "forecast_hour is"),
        (lambda nc: nc["forecast_initial_time"].__setitem__(0, nc["forecast_initial_time"][0] - 6), "not forecasts from 06 and 18 UTC"),
    ],
    ids=["hours 0..11", "a run at 00 UTC"],
)  # fmt: skip
def test_a_file_whose_forecast_axes_differ_fails_naming_it(regional, tmp_path, change, message):
    july = next(p for p in regional if "2020070106" in p.name)
    broken = _broken_copy(july, tmp_path, change)
    june = next(p for p in regional if "2020061606" in p.name)
    with pytest.raises(InputError, match=message) as err:
        read_daily([june, broken], date(2020, 7, 2), "tp").field("era5")
    assert str(broken) in str(err.value)


def test_an_area_of_the_global_files_is_exactly_the_france_grid(global_files, regional_pair):
    day = DAYS[0]
    for name in ("t2m", "tp"):
        area = _field(global_files, day, name, area=FRANCE)
        france = _field(regional_pair, day, name)
        np.testing.assert_array_equal(area.data["latitude"].values, france.data["latitude"].values)
        np.testing.assert_array_equal(
            area.data["longitude"].values, france.data["longitude"].values
        )
        np.testing.assert_array_equal(area.data.values, france.data.values)
    # The France files themselves: their longitudes from -6 to 10 across 0.
    with xr.open_dataset(FRANCE_T2M) as raw:
        np.testing.assert_array_equal(
            np.sort(raw["longitude"].values), area.data["longitude"].values
        )


def test_an_area_across_the_antimeridian_is_one_continuous_grid(global_files):
    day = DAYS[0]
    across = Area(10.0, 170.0, -10.0, 190.0)
    field = _field(global_files, day, "t2m", area=across)
    lon = field.data["longitude"].values
    np.testing.assert_allclose(lon, np.arange(170.0, 190.01, 0.25))
    # Independently, the global file's columns 170..179.75 then -180..-170 (0..360: 180..190).
    t2m_file = next(p for p in global_files if "128_167_2t" in p.name)
    with xr.open_dataset(t2m_file) as raw:
        hours = raw["VAR_2T"].sel(time=slice(f"{day}T00", f"{day}T23"))
        cut = hours.sel(latitude=slice(10, -10), longitude=slice(170, 190))
        cut = cut.astype(float).mean("time") - 273.15
    np.testing.assert_allclose(field.data.values, cut.values[::-1], atol=1e-6)


def test_an_area_across_the_antimeridian_of_a_minus_180_grid(cf_dataset, write_nc):
    """On a -180..180 grid the area's two ends are the file's two ends: read as one."""
    import pandas as pd

    lon = np.arange(-180.0, 180.0, 1.0)
    lat = np.arange(-20.0, 21.0, 1.0)
    times = pd.date_range("2021-03-01T00", periods=24, freq="h")
    # A field made of its longitude east (0..360) and its latitude: easy to check.
    values = np.broadcast_to(
        (200.0 + (lon % 360) / 10 + lat[:, None] / 100)[None], (24, lat.size, lon.size)
    )
    path = write_nc(cf_dataset({"t2m": values + 0.0}, times, lat, lon), "minus180.nc")
    field = _field([path], date(2021, 3, 1), "t2m", area=Area(10.0, 170.0, -10.0, 190.0))
    got_lon = field.data["longitude"].values
    np.testing.assert_array_equal(got_lon, np.arange(170.0, 191.0))
    np.testing.assert_array_equal(field.data["latitude"].values, np.arange(-10.0, 11.0))
    expected = (
        200.0 + (got_lon % 360)[None, :] / 10 + np.arange(-10.0, 11.0)[:, None] / 100 - 273.15
    )
    np.testing.assert_allclose(field.data.values, expected, atol=1e-4)  # float32 file


def test_an_area_missing_a_files_grid_fails_naming_the_file(regional):
    with pytest.raises(InputError, match="holds no cell of the grid") as err:
        _field(regional, DAYS[0], "t2m", area=Area(-30.0, 100.0, -40.0, 120.0))
    assert "128_167_2t" in str(err.value)

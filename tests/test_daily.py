"""Daily fields against an independent xarray computation on the raw files.

The expectations open the raw CDS files with plain ``xarray.open_dataset`` (no
normalisation: ``valid_time``, descending latitude) and select the hours by hand.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from era5_common.errors import InputError
from era5_contours.inputs.datasets import ERA5, ERA5_LAND
from era5_contours.inputs.samples import load_day
from era5_contours.science.daily import (
    IncompleteDayError,
    daily_field,
)

# Depends on what differs between the Glue runtimes: the lanes run it (sh/test_glue_lane.sh).
pytestmark = pytest.mark.runtime

FR_T2M = "era5_france_2020-07_hourly_instant_t2m.nc"
FR_TP = "era5_france_2020-07_hourly_accum_tp.nc"
SW_T2M = "era5_swfrance_2020-07-01_06_hourly_instant_t2m.nc"
SW_TP = "era5_swfrance_2020-07-01_06_hourly_accum_tp.nc"
KERALA = "era5land_kerala_2025-09-11_hourly_t2m_tp.nc"

TOL = 1e-3


def _raw(path) -> xr.Dataset:
    return xr.open_dataset(path, engine="netcdf4")


def _hours(day: str, first: str, last: str) -> slice:
    """A valid_time slice from ``day`` + ``first`` to ``last`` (a full timestamp)."""
    return slice(np.datetime64(f"{day}T{first}"), np.datetime64(last))


def _next_midnight(day: str) -> str:
    return str(np.datetime64(day) + np.timedelta64(1, "D")) + "T00:00"


def _assert_matches(field, expected: xr.DataArray, lat: float, lon: float, *, nearest=False):
    """Domain nanmean and one grid point agree within TOL."""
    got = field.data
    assert got.shape == expected.shape
    assert float(np.nanmean(got.values)) == pytest.approx(
        float(np.nanmean(expected.values)), abs=TOL
    )
    point = got.sel(latitude=lat, longitude=lon)
    ref = expected.sel(latitude=lat, longitude=lon, method="nearest" if nearest else None)
    assert float(ref) == float(ref)  # a land point: not NaN
    assert float(point) == pytest.approx(float(ref), abs=TOL)


# --- ERA5: France July 2020 -------------------------------------------------------------


@pytest.mark.parametrize("day", ["2020-07-01", "2020-07-14", "2020-07-30", "2020-07-31"])
def test_france_t2m_daily_mean(era5_file, day):
    path = era5_file(FR_T2M)
    d = date.fromisoformat(day)
    raw = _raw(path)["t2m"].sel(valid_time=_hours(day, "00:00", f"{day}T23:00"))
    assert raw.sizes["valid_time"] == 24
    expected = raw.mean("valid_time") - 273.15

    field = daily_field(load_day([path], d, ["t2m"]), "t2m", d, ERA5)
    assert field.complete and field.samples == 24
    _assert_matches(field, expected, lat=45.0, lon=2.0)
    # Realistic July means in degC, not Kelvin
    assert 0.0 < float(np.nanmean(field.data.values)) < 35.0


@pytest.mark.parametrize("day", ["2020-07-01", "2020-07-14", "2020-07-30"])
def test_france_tp_daily_total(era5_file, day):
    path = era5_file(FR_TP)
    d = date.fromisoformat(day)
    # (D 00, D+1 00]: from 01 UTC of D to 00 UTC of D+1 inclusive
    raw = _raw(path)["tp"].sel(valid_time=_hours(day, "01:00", _next_midnight(day)))
    assert raw.sizes["valid_time"] == 24
    expected = raw.sum("valid_time") * 1000.0

    field = daily_field(load_day([path], d, ["tp"]), "tp", d, ERA5)
    assert field.complete and field.samples == 24
    _assert_matches(field, expected, lat=43.5, lon=1.5)
    assert float(field.data.min()) >= 0.0


def test_france_tp_including_d00_would_differ(era5_file):
    """The window choice matters on this day: [D 00, D 23] gives a different total."""
    path = era5_file(FR_TP)
    day = "2020-07-01"
    wrong = _raw(path)["tp"].sel(valid_time=_hours(day, "00:00", f"{day}T23:00")).sum("valid_time")
    field = daily_field(load_day([path], date(2020, 7, 1), ["tp"]), "tp", date(2020, 7, 1), ERA5)
    assert np.nanmax(np.abs(field.data.values - wrong.sortby("latitude").values * 1000)) > 0.1


def test_france_tp_last_day_of_month_is_incomplete(era5_file):
    path = era5_file(FR_TP)
    d = date(2020, 7, 31)
    ds = load_day([path], d, ["tp"])
    with pytest.raises(IncompleteDayError) as err:
        daily_field(ds, "tp", d, ERA5)
    assert (err.value.samples, err.value.required) == (23, 24)
    assert err.value.variable == "tp" and err.value.day == d
    assert "23 of 24" in str(err.value)

    field = daily_field(ds, "tp", d, ERA5, min_samples=23)
    assert not field.complete
    assert field.samples == 23
    assert field.data.attrs["complete"] is False
    assert field.data.attrs["samples"] == 23
    assert "incomplete" in field.data.attrs["comment"]
    expected = _raw(path)["tp"].sel(valid_time=_hours("2020-07-31", "01:00", "2020-07-31T23:00"))
    _assert_matches(field, expected.sum("valid_time") * 1000.0, lat=43.5, lon=1.5)

    with pytest.raises(IncompleteDayError):
        daily_field(ds, "tp", d, ERA5, min_samples=24)


def test_france_daily_field_dispatch_and_attrs(era5_file):
    d = date(2020, 7, 1)
    ds = load_day([era5_file(FR_T2M), era5_file(FR_TP)], d, ["t2m", "tp"])
    t2m = daily_field(ds, "t2m", d, ERA5)
    tp = daily_field(ds, "tp", d, ERA5)
    assert t2m.data.dims == tp.data.dims == ("latitude", "longitude")
    assert t2m.units == "degC" and tp.units == "mm"
    assert t2m.data.attrs["standard_name"] == "air_temperature"
    assert t2m.data.attrs["cell_methods"].startswith("time: mean")
    assert tp.data.attrs["standard_name"] == "lwe_thickness_of_precipitation_amount"
    assert tp.data.attrs["cell_methods"].startswith("time: sum")
    for f in (t2m, tp):
        assert f.data.attrs["samples"] == 24
        assert f.data.attrs["samples_required"] == 24
        assert f.data.attrs["complete"] is True
        assert f.data.attrs["dataset"] == ERA5
        assert "comment" not in f.data.attrs
        assert f.data.dtype == np.float64
        assert pd.Timestamp(f.data["day"].values) == pd.Timestamp(d)
    with pytest.raises(ValueError, match="unknown variable"):
        daily_field(ds, "u10", d, ERA5)


# --- ERA5: south-west France, two streams ------------------------------------------------


@pytest.mark.parametrize("day", ["2020-07-01", "2020-07-03", "2020-07-05"])
def test_swfrance_t2m_and_tp(era5_file, day):
    t2m_path, tp_path = era5_file(SW_T2M), era5_file(SW_TP)
    d = date.fromisoformat(day)
    ds = load_day([t2m_path, tp_path], d, ["t2m", "tp"])

    t2m_raw = _raw(t2m_path)["t2m"].sel(valid_time=_hours(day, "00:00", f"{day}T23:00"))
    tp_raw = _raw(tp_path)["tp"].sel(valid_time=_hours(day, "01:00", _next_midnight(day)))
    assert t2m_raw.sizes["valid_time"] == tp_raw.sizes["valid_time"] == 24

    _assert_matches(
        daily_field(ds, "t2m", d, ERA5), t2m_raw.mean("valid_time") - 273.15, lat=42.5, lon=-1.0
    )
    _assert_matches(
        daily_field(ds, "tp", d, ERA5), tp_raw.sum("valid_time") * 1000.0, lat=42.5, lon=-1.0
    )


def test_swfrance_last_day_tp_incomplete_t2m_complete(era5_file):
    d = date(2020, 7, 6)
    ds = load_day([era5_file(SW_T2M), era5_file(SW_TP)], d, ["t2m", "tp"])
    assert daily_field(ds, "t2m", d, ERA5).complete
    with pytest.raises(IncompleteDayError) as err:
        daily_field(ds, "tp", d, ERA5)
    assert err.value.samples == 23


# --- ERA5-Land: Kerala, a partial day (00..18 UTC) ---------------------------------------

K_DAY = date(2025, 9, 11)
K_LAT, K_LON = 10.5, 76.5  # inland Kerala (land, so not NaN in ERA5-Land)


@pytest.fixture(scope="module")
def kerala(era5_file):
    path = era5_file(KERALA)
    return path, load_day([path], K_DAY, ["t2m", "tp"])


def test_kerala_partial_day_is_incomplete(kerala):
    _, ds = kerala
    with pytest.raises(IncompleteDayError) as err:
        daily_field(ds, "t2m", K_DAY, ERA5_LAND)
    assert (err.value.samples, err.value.required) == (19, 24)  # 00..18 UTC
    assert err.value.variable == "t2m"
    with pytest.raises(IncompleteDayError) as err:
        daily_field(ds, "tp", K_DAY, ERA5_LAND)
    assert (err.value.samples, err.value.required) == (18, 24)  # 01..18 UTC, no D+1 00
    assert err.value.variable == "tp"
    assert "2025-09-11" in str(err.value)
    assert isinstance(err.value, InputError)


def test_kerala_t2m_partial_mean(kerala):
    path, ds = kerala
    raw = _raw(path)["t2m"].sel(valid_time=_hours("2025-09-11", "00:00", "2025-09-11T23:00"))
    assert raw.sizes["valid_time"] == 19
    expected = raw.mean("valid_time") - 273.15
    field = daily_field(ds, "t2m", K_DAY, ERA5_LAND, min_samples=19)
    assert not field.complete and field.samples == 19
    _assert_matches(field, expected, K_LAT, K_LON, nearest=True)
    # Sea stays NaN; NaN counts match the raw file
    assert int(np.isnan(field.data.values).sum()) == int(np.isnan(expected.values).sum()) > 0


def test_kerala_tp_partial_total_is_last_accumulation(kerala):
    path, ds = kerala
    raw = _raw(path)["tp"]
    last = raw.sel(valid_time="2025-09-11T18:00") * 1000.0  # accumulated 00..18 UTC
    field = daily_field(ds, "tp", K_DAY, ERA5_LAND, min_samples=18)
    assert not field.complete and field.samples == 18
    assert field.data.attrs["complete"] is False
    assert "accumulated since 00 UTC" in field.data.attrs["cell_methods"]
    _assert_matches(field, last, K_LAT, K_LON, nearest=True)

    # Realistic: an 18-hour monsoon total peaks at tens of mm, not hundreds
    peak = float(np.nanmax(field.data.values))
    assert 5.0 < peak < 100.0
    # Summing the hourly (cumulative) values instead would overcount many times
    summed = raw.sel(valid_time=_hours("2025-09-11", "01:00", "2025-09-11T18:00")).sum(
        "valid_time", skipna=False
    )
    summed_peak = float(summed.max()) * 1000.0
    assert summed_peak > 3 * peak
    assert summed_peak > 100.0
    assert float(np.nanmean(summed.values)) * 1000.0 > 3 * float(np.nanmean(field.data.values))


def test_kerala_d00_value_belongs_to_previous_day(kerala):
    """The 00 UTC value is yesterday's total: using it would be wrong."""
    path, ds = kerala
    d00 = _raw(path)["tp"].sel(valid_time="2025-09-11T00:00") * 1000.0
    field = daily_field(ds, "tp", K_DAY, ERA5_LAND, min_samples=18)
    yesterday = d00.sortby("latitude").values
    assert np.nanmax(yesterday) > 2 * np.nanmax(field.data.values)
    assert np.nanmax(np.abs(field.data.values - yesterday)) > 10.0


# --- synthetic: the rules themselves -----------------------------------------------------


def _synthetic(cf_dataset, **variables):
    times = pd.date_range("2021-06-01T00", "2021-06-02T00", freq="h")  # 25 samples
    n = len(times)
    return cf_dataset(
        {k: v(n) for k, v in variables.items()},
        times,
        [0.0, 0.25],
        [0.0, 0.25, 0.5],
        time_name="time",
    )


def test_era5_land_complete_day_uses_next_midnight_value(cf_dataset):
    # 1 mm per hour accumulated since 00 UTC: D+1 00 UTC holds 24 mm.
    def cumulative(n):
        acc = np.arange(n, dtype=float)[:, None, None] * 0.001 * np.ones((n, 2, 3))
        acc[0] = 0.050  # the previous day's total
        acc[-1] = 0.024
        return acc

    ds = _synthetic(cf_dataset, tp=cumulative)
    field = daily_field(ds, "tp", date(2021, 6, 1), ERA5_LAND)
    assert field.complete and field.samples == 24
    np.testing.assert_allclose(field.data.values, 24.0, atol=1e-4)
    # The same samples read as ERA5 hourly values sum to 1+2+...+23+24 = 300 mm
    era5 = daily_field(ds, "tp", date(2021, 6, 1), ERA5)
    np.testing.assert_allclose(era5.data.values, 300.0, atol=1e-3)


def test_t2m_mean_uses_00_to_23_and_converts_kelvin(cf_dataset):
    def ramp(n):
        # 273.15 + hour; D+1 00 UTC is 1000 K so including it would be obvious
        v = 273.15 + np.arange(n, dtype=float)[:, None, None] * np.ones((n, 2, 3))
        v[-1] = 1000.0
        return v

    field = daily_field(_synthetic(cf_dataset, t2m=ramp), "t2m", date(2021, 6, 1), ERA5)
    np.testing.assert_allclose(field.data.values, 11.5, atol=1e-4)  # mean of 0..23


def test_missing_hour_is_detected(cf_dataset):
    ds = _synthetic(cf_dataset, t2m=lambda n: np.full((n, 2, 3), 280.0))
    gap = ds.drop_isel(time=[5])
    with pytest.raises(IncompleteDayError) as err:
        daily_field(gap, "t2m", date(2021, 6, 1), ERA5)
    assert err.value.samples == 23
    # An hour that is NaN everywhere is missing too
    nan_hour = ds.copy(deep=True)
    nan_hour["t2m"][7] = np.nan
    with pytest.raises(IncompleteDayError):
        daily_field(nan_hour, "t2m", date(2021, 6, 1), ERA5)


def test_one_nan_cell_stays_nan(cf_dataset):
    ds = _synthetic(cf_dataset, t2m=lambda n: np.full((n, 2, 3), 280.0))
    ds["t2m"][3, 1, 2] = np.nan
    field = daily_field(ds, "t2m", date(2021, 6, 1), ERA5)
    assert np.isnan(field.data.values[1, 2])
    assert np.isfinite(field.data.values).sum() == 5


def test_units_are_read_from_the_attribute_and_converted(cf_dataset):
    ds = _synthetic(cf_dataset, t2m=lambda n: np.full((n, 2, 3), 280.0))
    with pytest.raises(InputError) as err:
        daily_field(ds, "tp", date(2021, 6, 1), ERA5)
    assert err.value.variable == "tp"
    for spelling in ("degC", "degree_Celsius", "celsius", "Celsius"):
        celsius = ds.copy()
        celsius["t2m"] = ds["t2m"] - 273.15
        celsius["t2m"].attrs["units"] = spelling
        np.testing.assert_allclose(
            daily_field(celsius, "t2m", date(2021, 6, 1), ERA5).data.values, 6.85, atol=1e-4
        )
    # 2 mm every hour of the day, in each unit a file may state: 48 mm.
    for spelling, hourly in (("m", 0.002), ("mm", 2.0), ("kg m-2", 2.0), ("kg m**-2", 2.0)):
        tp = _synthetic(cf_dataset, tp=lambda n, h=hourly: np.full((n, 2, 3), h))
        tp["tp"].attrs["units"] = spelling
        field = daily_field(tp, "tp", date(2021, 6, 1), ERA5)
        np.testing.assert_allclose(field.data.values, 48.0, rtol=1e-6)
        assert field.units == "mm"


@pytest.mark.parametrize(
    ("variable", "units", "needle"),
    [
        ("t2m", None, "no units attribute"),
        ("t2m", "", "no units attribute"),
        ("t2m", "kelvins_maybe", "units 'kelvins_maybe' are not recognised"),
        ("t2m", "m", "cannot express t2m"),
        ("tp", None, "no units attribute"),
        ("tp", "mm day-1", "cannot express tp"),
        ("tp", "kg m-2 s-1", "cannot express tp"),
    ],
)
def test_missing_unknown_or_wrong_units_are_refused(cf_dataset, variable, units, needle):
    ds = _synthetic(cf_dataset, **{variable: lambda n: np.full((n, 2, 3), 0.5)})
    if units is None:
        del ds[variable].attrs["units"]
    else:
        ds[variable].attrs["units"] = units
    with pytest.raises(InputError, match=needle) as err:
        daily_field(ds, variable, date(2021, 6, 1), ERA5)
    assert err.value.variable == variable and err.value.day == date(2021, 6, 1)
    assert f"--assume_units {variable}=" in str(err.value) or "cannot express" in str(err.value)


@pytest.mark.parametrize(
    ("variable", "value", "units", "needle"),
    [
        # A degC file that says K (or a corrupt one): the mean is -250 degC.
        ("t2m", 22.0, "K", "daily t2m 22 K"),
        ("t2m", 345.0, "K", "daily t2m 345 K"),
        # A mm file that says m: 2 mm every hour becomes 48 m in a day.
        ("tp", 2.0, "m", "daily tp 48 m"),
        ("tp", -0.001, "m", "daily tp -0.024 m"),
    ],
)
def test_physically_impossible_fields_are_refused(cf_dataset, variable, value, units, needle):
    ds = _synthetic(cf_dataset, **{variable: lambda n: np.full((n, 2, 3), value)})
    ds[variable].attrs["units"] = units
    ds.attrs["source_files"] = ["s3://bucket/era5/2021/06/file.nc"]
    with pytest.raises(InputError) as err:
        daily_field(ds, variable, date(2021, 6, 1), ERA5)
    text = str(err.value)
    assert needle in text and "outside the physical range" in text
    assert "s3://bucket/era5/2021/06/file.nc" in text and "2021-06-01" in text


def test_fields_at_the_edges_of_the_physical_range_pass(cf_dataset):
    cold = _synthetic(cf_dataset, t2m=lambda n: np.full((n, 2, 3), 180.0))
    np.testing.assert_allclose(daily_field(cold, "t2m", date(2021, 6, 1), ERA5).data.values, -93.15)
    dry = _synthetic(cf_dataset, tp=lambda n: np.zeros((n, 2, 3)))
    assert float(daily_field(dry, "tp", date(2021, 6, 1), ERA5).data.max()) == 0.0


def test_unknown_dataset_refused(cf_dataset):
    tp = _synthetic(cf_dataset, tp=lambda n: np.zeros((n, 2, 3)))
    with pytest.raises(ValueError, match="unknown dataset"):
        daily_field(tp, "tp", date(2021, 6, 1), "merra2")

"""The NCAR-layout test files (tests/ncar_layout.py) hold the CDS originals, laid out as NCAR.

Checked independently of the builder: the CDS files are read with xarray, the NCAR-layout
files with netCDF4 and their own time units; every valid time of the originals is found
again at ``forecast_initial_time + forecast_hour`` (tp) or ``time`` (t2m), bit for bit.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from ncar_layout import build
from realdata import FRANCE_T2M, FRANCE_TP, require

pytestmark = [pytest.mark.realdata, pytest.mark.runtime]

EXPECTED_KEYS = [
    "e5.oper.an.sfc/202007/e5.oper.an.sfc.128_167_2t.ll025sc.2020070100_2020073123.nc",
    "e5.oper.fc.sfc.accumu/202006/e5.oper.fc.sfc.accumu.128_228_tp.ll025sc.2020061606_2020070106.nc",
    "e5.oper.fc.sfc.accumu/202007/e5.oper.fc.sfc.accumu.128_228_tp.ll025sc.2020070106_2020071606.nc",
    "e5.oper.fc.sfc.accumu/202007/e5.oper.fc.sfc.accumu.128_228_tp.ll025sc.2020071606_2020080106.nc",
]
NAME = re.compile(
    r"(?P<stream>e5\.oper\.[a-z.]+)/(?P<folder>\d{6})/(?P=stream)\.(?P<param>\d{3}_\d{3}_\w+)"
    r"\.ll025sc\.(?P<start>\d{10})_(?P<end>\d{10})\.nc"
)


@pytest.fixture(scope="module")
def regional(tmp_path_factory):
    require(FRANCE_T2M, FRANCE_TP)
    out = tmp_path_factory.mktemp("ncar-regional")
    build(out)
    return out


@pytest.fixture(scope="module")
def cds():
    require(FRANCE_T2M, FRANCE_TP)
    with xr.open_dataset(FRANCE_T2M) as t2m, xr.open_dataset(FRANCE_TP) as tp:
        yield {"t2m": t2m["t2m"].load(), "tp": tp["tp"].load()}


def _times(var: netCDF4.Variable) -> list[datetime]:
    out = netCDF4.num2date(var[:], var.units, var.calendar, only_use_cftime_datetimes=False)
    return [datetime(t.year, t.month, t.day, t.hour) for t in out]


def _france(nc: netCDF4.Dataset, lat: np.ndarray, lon: np.ndarray) -> tuple[list[int], list[int]]:
    """Rows and columns of the NCAR file holding the CDS file's latitudes and longitudes."""
    flat, flon = nc["latitude"][:], nc["longitude"][:]
    rows = [int(np.flatnonzero(flat == v)[0]) for v in lat]
    cols = [int(np.flatnonzero(flon == v % 360)[0]) for v in lon]
    return rows, cols


def test_file_names_and_folders_follow_the_scheme(regional):
    keys = sorted(str(p.relative_to(regional)) for p in regional.rglob("*.nc"))
    assert keys == EXPECTED_KEYS
    for key in keys:
        m = NAME.fullmatch(key)
        assert m, key
        start = datetime.strptime(m["start"], "%Y%m%d%H")
        end = datetime.strptime(m["end"], "%Y%m%d%H")
        assert m["folder"] == f"{start:%Y%m}"  # the folder of the month the file starts in
        with netCDF4.Dataset(regional / key) as nc:
            if m["stream"] == "e5.oper.an.sfc":
                times = _times(nc["time"])
                assert (times[0], times[-1]) == (start, end)
                assert start.day == 1 and start.hour == 0 and end.hour == 23
                assert (end + timedelta(hours=1)).month != start.month
                continue
            inits = _times(nc["forecast_initial_time"])
            assert inits[0] == start and start.day in (1, 16) and start.hour == 6
            # The name ends at the last valid time: last forecast start + 12 hours.
            assert inits[-1] + timedelta(hours=12) == end
            assert {t.hour for t in inits} == {6, 18}
            assert all(b - a == timedelta(hours=12) for a, b in itertools.pairwise(inits))
            assert end.day in (1, 16) and end.hour == 6
            assert len(inits) == (30 if start.day == 1 or start.month == 6 else 32)


def test_dimensions_coordinates_types_and_storage(regional):
    an = regional / EXPECTED_KEYS[0]
    with netCDF4.Dataset(an) as nc:
        var = nc["VAR_2T"]
        assert var.dimensions == ("time", "latitude", "longitude")
        assert var.dtype == np.float32 and var.units == "K"
        assert var.chunking() == [27, 49, 65]
        assert var.filters()["zlib"] and var.filters()["shuffle"]
        assert var.filters()["complevel"] == 1
        assert nc["time"].dtype == np.int32 and nc["time"].units.startswith("hours since 1900")
        assert nc["utc_date"][0] == 2020070100 and nc["utc_date"][-1] == 2020073123
        lat, lon = nc["latitude"][:], nc["longitude"][:]
        assert lat[0] == 52 and lat[-1] == 40 and np.all(np.diff(lat) == -0.25)
        # France on 0..360: a cut of the global columns, in their order.
        assert np.all((lon >= 0) & (lon < 360))
        assert list(lon[:3]) == [0.0, 0.25, 0.5] and lon[-1] == 359.75
        assert np.all(np.diff(lon) > 0) and 354.0 in lon and 10.0 in lon
    for key in EXPECTED_KEYS[1:]:
        with netCDF4.Dataset(regional / key) as nc:
            var = nc["TP"]
            assert var.dimensions == (
                "forecast_initial_time",
                "forecast_hour",
                "latitude",
                "longitude",
            )
            assert var.dtype == np.float32 and var.units == "m"
            assert var.chunking() == [1, 12, 49, 65]
            assert list(nc["forecast_hour"][:]) == list(range(1, 13))
            assert nc["utc_date"].dimensions == ("forecast_initial_time",)


def test_t2m_equals_the_cds_original_at_every_hour(regional, cds):
    want = cds["t2m"]
    with netCDF4.Dataset(regional / EXPECTED_KEYS[0]) as nc:
        rows, cols = _france(nc, want["latitude"].values, want["longitude"].values)
        times = _times(nc["time"])
        got = np.ma.filled(nc["VAR_2T"][:][:, rows][:, :, cols], np.nan)
    assert [pd.Timestamp(t) for t in times] == list(pd.to_datetime(want["valid_time"].values))
    assert np.array_equal(got, want.values)


def test_tp_equals_the_cds_original_at_every_valid_time(regional, cds):
    want = cds["tp"]
    index = {pd.Timestamp(t): i for i, t in enumerate(want["valid_time"].values)}
    found: dict[pd.Timestamp, np.ndarray] = {}
    missing: list[tuple[str, datetime, int]] = []
    for key in EXPECTED_KEYS[1:]:
        with netCDF4.Dataset(regional / key) as nc:
            rows, cols = _france(nc, want["latitude"].values, want["longitude"].values)
            hours = nc["forecast_hour"][:]
            values = np.ma.filled(nc["TP"][:][:, :, rows][:, :, :, cols], np.nan)
            for i, init in enumerate(_times(nc["forecast_initial_time"])):
                for k, h in enumerate(hours):
                    valid = pd.Timestamp(init + timedelta(hours=int(h)))
                    if valid in index:
                        assert valid not in found, valid  # forecasts tile time exactly
                        found[valid] = values[i, k]
                    else:
                        missing.append((key, init, int(h)))
                        assert np.isnan(values[i, k]).all(), (key, init, h)
    assert sorted(found) == sorted(index)  # every hour of the originals, once
    for valid, got in found.items():
        assert np.array_equal(got, want.values[index[valid]], equal_nan=True), valid
    # What the originals lack: June 16 07 UTC .. June 30 23 UTC, and August 1 00..06 UTC.
    valid_missing = sorted({init + timedelta(hours=h) for _, init, h in missing})
    assert valid_missing[0] == datetime(2020, 6, 16, 7)
    assert valid_missing[-1] == datetime(2020, 8, 1, 6)
    assert len(valid_missing) == (17 + 14 * 24) + 7  # June 16 07 .. June 30 23, Aug 1 00..06


def test_the_day_d_needs_forecasts_of_d_minus_1_18_d_06_and_d_18(regional, cds):
    """July 1: its first six hours from June's file, the rest from July's first half."""
    want = cds["tp"].sel(valid_time=slice("2020-07-01T01", "2020-07-02T00")).sum("valid_time")
    total = np.zeros(want.shape, dtype=np.float64)
    used = []
    for key in EXPECTED_KEYS[1:3]:
        with netCDF4.Dataset(regional / key) as nc:
            rows, cols = _france(nc, want["latitude"].values, want["longitude"].values)
            for i, init in enumerate(_times(nc["forecast_initial_time"])):
                for k, h in enumerate(nc["forecast_hour"][:]):
                    valid = init + timedelta(hours=int(h))
                    if datetime(2020, 7, 1) < valid <= datetime(2020, 7, 2):
                        total += nc["TP"][i, k][rows][:, cols]
                        used.append((init.strftime("%d %H"), int(h)))
    assert sorted({u[0] for u in used}) == ["01 06", "01 18", "30 18"]
    assert len(used) == 24
    np.testing.assert_allclose(total, want.values, rtol=0, atol=1e-9)


def test_the_global_grid_keeps_france_exact_and_is_plausible_elsewhere(tmp_path, cds):
    require(FRANCE_T2M, FRANCE_TP)
    days = [date(2020, 7, 1), date(2020, 7, 16)]
    build(tmp_path, grid="global", days=days)
    with netCDF4.Dataset(tmp_path / EXPECTED_KEYS[0]) as nc:
        assert nc["VAR_2T"].chunking() == [27, 139, 277]
        lat, lon = nc["latitude"][:], nc["longitude"][:]
        assert len(lat) == 721 and lat[0] == 90 and lat[-1] == -90
        assert len(lon) == 1440 and lon[0] == 0 and lon[-1] == 359.75
        want = cds["t2m"]
        rows, cols = _france(nc, want["latitude"].values, want["longitude"].values)
        for hour in (0, 13, 15 * 24, 15 * 24 + 23):
            field = nc["VAR_2T"][hour]
            assert not np.ma.is_masked(field)
            assert field.min() > 180 and field.max() < 335
            assert np.array_equal(field[rows][:, cols], want.values[hour])
        assert nc["VAR_2T"][2 * 24].mask.all()  # July 3: not built
    with netCDF4.Dataset(tmp_path / EXPECTED_KEYS[3]) as nc:
        assert nc["TP"].chunking() == [1, 12, 721, 1440]
        want = cds["tp"]
        rows, cols = _france(nc, want["latitude"].values, want["longitude"].values)
        field = nc["TP"][0, 5]  # July 16 06 UTC forecast, hour 6: valid 12 UTC
        assert not np.ma.is_masked(field) and field.min() >= 0 and field.max() < 0.05
        assert (field == 0).mean() > 0.3  # dry most places, as hourly precipitation is
        hour = list(pd.to_datetime(want["valid_time"].values)).index(pd.Timestamp(2020, 7, 16, 12))
        assert np.array_equal(field[rows][:, cols], want.values[hour])


def test_lsp_and_cp_sum_exactly_to_the_cds_tp(tmp_path, cds):
    require(FRANCE_T2M, FRANCE_TP)
    paths = build(tmp_path, days=[date(2020, 7, 16)], tp_as="lsp+cp")
    names = sorted(p.name for p in paths)
    assert "e5.oper.fc.sfc.accumu.128_142_lsp.ll025sc.2020071606_2020080106.nc" in names
    assert "e5.oper.fc.sfc.accumu.128_143_cp.ll025sc.2020071606_2020080106.nc" in names
    folder = tmp_path / "e5.oper.fc.sfc.accumu/202007"
    second_half = "ll025sc.2020071606_2020080106.nc"
    with (
        netCDF4.Dataset(folder / f"e5.oper.fc.sfc.accumu.128_142_lsp.{second_half}") as lsp,
        netCDF4.Dataset(folder / f"e5.oper.fc.sfc.accumu.128_143_cp.{second_half}") as cp,
    ):
        assert lsp["LSP"].dimensions == cp["CP"].dimensions
        assert lsp["LSP"].units == cp["CP"].units == "m"
        want = cds["tp"].sel(valid_time=slice("2020-07-16T07", "2020-07-16T18"))
        rows, cols = _france(lsp, want["latitude"].values, want["longitude"].values)
        parts = [
            np.asarray(nc[name][0])[:, rows][:, :, cols] for nc, name in ((lsp, "LSP"), (cp, "CP"))
        ]
    assert (parts[0] >= 0).all() and (parts[1] >= 0).all() and (parts[0] > 0).any()
    # July 16 06 UTC forecast, hours 1..12: float32 sums, bit for bit the CDS tp.
    assert np.array_equal(parts[0] + parts[1], want.values)

"""The maps forecasters draw: msl isobars, 10 m wind speed, daily maximum and minimum t2m.

Daily values are checked against xarray computations on the files themselves: the real
France July 2020 t2m for t2m_max and t2m_min, sample and hand-made files for msl and si10
(including a day whose wind turns through a full circle, where the mean of the hourly
speeds and the speed of the mean wind differ). Then: each input read once per day, a
derived variable missing an input, components on different grids, pressure in Pa or hPa,
a file whose units lie, the job over every variable of the sample, and the CDS ingest.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from fake_cds import KEY, Archive, FakeCDS
from ingest_support import AREA, BOUNDS, FAST, JOB
from realdata import FRANCE_T2M, require

from era5_common.errors import InputError
from era5_common.variables import VARIABLES, cds_quantities
from era5_contours.inputs import samples as samples_module
from era5_contours.run.planning import FileInfo, plan_days
from era5_contours.science.daily import read_daily, read_day
from era5_tools.sample import generate_sample

sys.path.insert(0, str(JOB.parent))
import ingest_era5

#: Reading depends on the runtime's netCDF4, h5py and numpy: the Glue lanes run these.
pytestmark = pytest.mark.runtime

DAY = date(2024, 7, 2)
ALL = tuple(VARIABLES)
TOL = 1e-4


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """Three days of every variable's quantities over Western France (ERA5 layout)."""
    folder = tmp_path_factory.mktemp("sample")
    return generate_sample(
        folder, "2024-07-01", "2024-07-03", bounds=(-5.0, 42.0, 8.0, 51.0), variables=ALL
    )


def _hours(path, name, day, closed="left"):
    """The hourly values of ``name`` in day ``day``'s window, with xarray alone."""
    start = np.datetime64(day.isoformat())
    with xr.open_dataset(path) as ds:
        times = ds["valid_time"].values
        end = start + np.timedelta64(24, "h")
        keep = (
            (times >= start) & (times < end)
            if closed == "left"
            else (times > start) & (times <= end)
        )
        return ds[name].isel(valid_time=np.flatnonzero(keep)).load().sortby("latitude")


# --------------------------------------------------------------------------- values


def test_t2m_max_and_min_of_the_real_france_day():
    require(FRANCE_T2M)
    day = date(2020, 7, 14)
    hours = _hours(FRANCE_T2M, "t2m", day)
    assert hours.sizes["valid_time"] == 24
    for name, expected in (
        ("t2m_max", hours.max("valid_time") - 273.15),
        ("t2m_min", hours.min("valid_time") - 273.15),
        ("t2m", hours.astype(float).mean("valid_time") - 273.15),
    ):
        field = read_daily([FRANCE_T2M], day, name).field("era5")
        assert field.complete and field.units == "degC"
        np.testing.assert_allclose(field.data.values, expected.values, atol=TOL)
        assert field.data.attrs["long_name"] == VARIABLES[name].description
    # The maximum is never below the minimum; over land a July day spans degrees.
    hi = read_daily([FRANCE_T2M], day, "t2m_max").field("era5").data.values
    lo = read_daily([FRANCE_T2M], day, "t2m_min").field("era5").data.values
    assert (hi >= lo).all() and (hi - lo).max() > 10.0


def test_msl_mean_of_the_sample_in_hpa(sample):
    instant = next(p for p in sample if "instant" in p.name)
    hours = _hours(instant, "msl", DAY)
    field = read_daily(sample, DAY, "msl").field("era5")
    assert field.units == "hPa" and field.samples == 24
    np.testing.assert_allclose(
        field.data.values, hours.astype(float).mean("valid_time").values / 100.0, atol=TOL
    )


def test_si10_is_read_where_the_files_hold_it(sample):
    instant = next(p for p in sample if "instant" in p.name)
    hours = _hours(instant, "si10", DAY)
    acc = read_daily(sample, DAY, "si10")
    np.testing.assert_allclose(
        acc.field("era5").data.values, hours.astype(float).mean("valid_time").values, atol=TOL
    )


def _rotating_wind(cf_dataset, write_nc, speed=10.0, name="wind.nc", lat=(0.0, 1.0)):
    """u10 and v10 of a wind of ``speed`` turning 15 degrees an hour: a full circle a day."""
    times = pd.date_range("2021-03-01T00", periods=25, freq="h")
    angle = np.radians(15.0 * np.arange(25))[:, None, None]
    ones = np.ones((25, len(lat), 3))
    ds = cf_dataset(
        {"u10": speed * np.cos(angle) * ones, "v10": speed * np.sin(angle) * ones},
        times,
        list(lat),
        [0.0, 1.0, 2.0],
    )
    for v in ("u10", "v10"):
        ds[v].attrs["units"] = "m s**-1"
    return write_nc(ds, name)


def test_wind_speed_is_the_mean_of_hourly_speeds_not_the_speed_of_the_mean(cf_dataset, write_nc):
    path = _rotating_wind(cf_dataset, write_nc)
    day = date(2021, 3, 1)
    field = read_daily([path], day, "si10").field("era5")
    # Independently: the hourly components with xarray.
    with xr.open_dataset(path) as ds:
        day_ds = ds.sel(valid_time=slice("2021-03-01T00", "2021-03-01T23"))
        mean_of_speeds = np.hypot(day_ds["u10"], day_ds["v10"]).mean("valid_time")
        speed_of_mean = np.hypot(day_ds["u10"].mean("valid_time"), day_ds["v10"].mean("valid_time"))
    np.testing.assert_allclose(field.data.values, mean_of_speeds.values, rtol=1e-6)
    np.testing.assert_allclose(field.data.values, 10.0, rtol=1e-6)
    assert float(speed_of_mean.max()) < 1e-6  # the wind went all the way round
    assert field.units == "m s-1" and field.samples == 24


# --------------------------------------------------------------------------- reading


def test_a_day_reads_each_input_once(monkeypatch):
    require(FRANCE_T2M)
    opened = []
    real = samples_module.DaySamples.__init__

    def counting(self, sources, variable, window, **kw):
        opened.append(variable)
        real(self, sources, variable, window, **kw)

    monkeypatch.setattr(samples_module.DaySamples, "__init__", counting)
    day = date(2020, 7, 3)
    read = read_day({"t2m": [FRANCE_T2M]}, day, ["t2m", "t2m_max", "t2m_min"], dataset="era5")
    assert opened == ["t2m"]  # one read feeds all three
    fields = {v: r.acc.field().data.values for v, r in read.items()}
    assert (fields["t2m_min"] < fields["t2m"]).all() and (fields["t2m"] < fields["t2m_max"]).all()


def test_wind_reads_u10_and_v10_together(cf_dataset, write_nc, monkeypatch):
    path = _rotating_wind(cf_dataset, write_nc)
    read_in_turn = []
    real = samples_module.DaySamples._read

    def spy(self, part, positions):
        read_in_turn.append(self.variable)
        return real(self, part, positions)

    monkeypatch.setattr(samples_module.DaySamples, "_read", spy)
    read_daily([path], date(2021, 3, 1), "si10", hours_per_read=2)
    # Side by side: the two streams alternate, never one whole day and then the other.
    assert read_in_turn[:4] in (["u10", "v10"] * 2, ["v10", "u10"] * 2)
    assert read_in_turn.count("u10") == read_in_turn.count("v10") == 12


def test_a_derived_variable_missing_an_input_names_it(cf_dataset, write_nc):
    times = pd.date_range("2021-03-01T00", periods=24, freq="h")
    only_u = cf_dataset({"u10": np.ones((24, 2, 2))}, times, [0.0, 1.0], [0.0, 1.0])
    only_u["u10"].attrs["units"] = "m s-1"
    path = write_nc(only_u, "u_only.nc")
    day = date(2021, 3, 1)
    read = read_day({"u10": [path]}, day, ["si10"])["si10"]
    assert read.acc is None and "needs u10 and v10: no file holds v10" in str(read.error)
    assert read.error.variable == "si10"
    # The planner says it too, with the window it looked in; si10 itself is not there either.
    info = FileInfo(str(path), ("u10",), datetime(2021, 3, 1), datetime(2021, 3, 1, 23))
    (task,) = plan_days([day], ["si10"], [info])
    problem = task.problems["si10"]
    assert "si10 is made from u10 and v10" in problem and "holds v10 samples" in problem
    assert "nor from si10" in problem and "si10" not in task.recipes


def test_components_on_different_grids_fail_clearly(cf_dataset, write_nc):
    times = pd.date_range("2021-03-01T00", periods=24, freq="h")
    u = cf_dataset({"u10": np.ones((24, 2, 2))}, times, [0.0, 1.0], [0.0, 1.0])
    v = cf_dataset({"v10": np.ones((24, 3, 2))}, times, [0.0, 1.0, 2.0], [0.0, 1.0])
    for ds, name in ((u, "u10"), (v, "v10")):
        ds[name].attrs["units"] = "m s-1"
    files = {"u10": [write_nc(u, "u.nc")], "v10": [write_nc(v, "v.nc")]}
    read = read_day(files, date(2021, 3, 1), ["si10"])["si10"]
    text = str(read.error)
    assert read.acc is None and "u10 and v10 are on different grids" in text
    assert "u.nc" in text and "v.nc" in text and "2x2" in text and "3x2" in text


@pytest.mark.parametrize(("units", "scale"), [("Pa", 1.0), ("hPa", 0.01), ("Pa", 0.01)])
def test_pressure_is_read_in_its_own_units(cf_dataset, write_nc, units, scale):
    times = pd.date_range("2021-03-01T00", periods=24, freq="h")
    pa = 101_000.0 + 100.0 * np.arange(24)[:, None, None] * np.ones((24, 2, 2))
    ds = cf_dataset({"msl": pa * scale}, times, [0.0, 1.0], [0.0, 1.0])
    ds["msl"].attrs["units"] = units
    path = write_nc(ds, f"msl_{units}_{scale}.nc")
    acc = read_daily([path], date(2021, 3, 1), "msl")
    if units == "Pa" and scale != 1.0:
        # hPa values labelled Pa: a mean of 1021 "Pa" is no sea-level pressure.
        with pytest.raises(InputError, match=r"outside the physical range 85000\.\.110000 Pa"):
            acc.field("era5")
        return
    field = acc.field("era5")
    np.testing.assert_allclose(field.data.values, 1021.5, rtol=1e-9)  # hPa, whatever was read


# --------------------------------------------------------------------------- the job


@pytest.mark.spark
def test_the_job_maps_every_variable_of_the_sample(spark, sample, tmp_path):
    from era5_contours.run.config import JobConfig
    from era5_contours.run.pipeline import run_contour_job
    from era5_contours.tables.catalog import load_catalog

    out = tmp_path / "out"
    config = JobConfig.from_args(
        {
            "input_path": str(sample[0].parent),
            "output_path": str(out),
            "start_date": DAY.isoformat(),
            "end_date": DAY.isoformat(),
            "variables": ",".join(ALL),
        }
    )
    report = run_contour_job(spark, config)
    assert report.exit_code == 0, report.failures
    table = load_catalog("sql", str(out / "warehouse")).load_table("climate.daily_summary")
    rows = {r["variable"]: r for r in table.scan().to_arrow().to_pylist()}
    assert set(rows) == set(ALL) and {r["status"] for r in rows.values()} == {"ok"}
    instant = next(p for p in sample if "instant" in p.name)
    accum = next(p for p in sample if "accum" in p.name)
    expected = {
        "t2m": (_hours(instant, "t2m", DAY).astype(float).mean("valid_time") - 273.15),
        "t2m_max": _hours(instant, "t2m", DAY).max("valid_time") - 273.15,
        "t2m_min": _hours(instant, "t2m", DAY).min("valid_time") - 273.15,
        "msl": _hours(instant, "msl", DAY).astype(float).mean("valid_time") / 100.0,
        "si10": _hours(instant, "si10", DAY).astype(float).mean("valid_time"),
        "tp": _hours(accum, "tp", DAY, "right").astype(float).sum("valid_time") * 1000.0,
    }
    for name, field in expected.items():
        assert rows[name]["units"] == VARIABLES[name].output_units
        np.testing.assert_allclose(rows[name]["field_max"], float(field.max()), atol=TOL)
        np.testing.assert_allclose(rows[name]["field_min"], float(field.min()), atol=TOL)
        geojson = json.loads((out / "contours" / name / f"{DAY}.geojson").read_text())
        assert geojson["features"], name
        assert (out / "plots" / name / f"{DAY}.png").stat().st_size > 10_000


# --------------------------------------------------------------------------- ingest


def test_the_ingest_asks_each_product_for_what_it_holds():
    assert cds_quantities(["si10", "t2m_max", "t2m"], "era5") == ("si10", "t2m")
    assert cds_quantities(["si10"], "era5-land") == ("u10", "v10")
    assert cds_quantities(["msl", "tp"], "era5") == ("msl", "tp")
    with pytest.raises(ValueError, match="msl cannot come from era5-land"):
        cds_quantities(["msl"], "era5-land")


@pytest.mark.integration
def test_the_ingest_fetches_the_new_variables_from_the_fake_cds(tmp_path, monkeypatch):
    pytest.importorskip("ecmwf.datastores", reason="the ingest extra is not installed")
    source = generate_sample(
        tmp_path / "archive", "2020-07-01", "2020-07-31", bounds=BOUNDS, variables=ALL
    )
    out = tmp_path / "out"
    with FakeCDS(Archive(source)) as cds:
        monkeypatch.setenv("CDSAPI_URL", cds.url)
        monkeypatch.setenv("CDSAPI_KEY", KEY)
        monkeypatch.delenv("CDSAPI_RC", raising=False)
        args = ["--dataset", "era5", "--variables", "msl,si10,t2m_max", "--start_month", "2020-07"]
        args += ["--end_month", "2020-07", "--area", AREA, "--output_path", str(out), *FAST]
        assert ingest_era5.main(args) == 0
        asked = sorted({v for job in cds.jobs.values() for v in job.request["variable"]})
    assert asked == ["10m_wind_speed", "2m_temperature", "mean_sea_level_pressure"]
    july = out / "era5" / "2020" / "07"
    manifest = json.loads((july / "_manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["request"]["variables"] == [
        "msl",
        "si10",
        "t2m",
    ]
    # What the ingest wrote is what the archive holds, hour for hour.
    (got,) = sorted(july.glob("*.nc"))
    want = next(p for p in source if "instant" in p.name)
    with xr.open_dataset(got) as g, xr.open_dataset(want) as w:
        for name in ("msl", "si10", "t2m"):
            w_cut = w[name].sel(
                latitude=g["latitude"], longitude=g["longitude"], valid_time=g["valid_time"]
            )
            np.testing.assert_array_equal(g[name].values, w_cut.values)
    assert os.path.getsize(got) > 0


# --------------------------------------------------------------------------- maps


@pytest.mark.parametrize("name", ["t2m_max", "t2m_min", "msl", "si10"])
def test_each_new_map_reads_well_on_a_sample_day(sample, name):
    """Its default levels cut the day into several bands, and its isolines carry labels."""
    from matplotlib.colors import to_hex
    from matplotlib.text import Annotation

    from era5_contours.outputs.plots import map_figure
    from era5_contours.science.levels import band_colors, default_scheme

    field = read_daily(sample, DAY, name).field("era5").data
    scheme = default_scheme(name)
    levels = scheme.levels_for(field.values)
    inside = levels[(levels > float(field.min())) & (levels < float(field.max()))]
    assert len(inside) >= 3, (name, float(field.min()), float(field.max()))
    fills = band_colors(levels, scheme.cmap)
    shown = {fills[int(np.searchsorted(levels, v, side="left"))] for v in field.values.ravel()}
    assert len(shown) >= 4  # a reader tells several bands apart, not one wash of colour
    fig = map_figure(field, levels, cmap=scheme.cmap, coastlines=False)
    fig.canvas.draw()
    labels = [t for t in fig.axes[0].texts if t.get_text() and not isinstance(t, Annotation)]
    values = {float(t.get_text().replace("\u2212", "-")) for t in labels}
    assert values and values <= set(inside.tolist())
    if name == "msl":
        # Isobars: every 4 hPa at multiples of 4, drawn and labelled in black.
        assert all(v % 4 == 0 for v in values)
        assert {to_hex(t.get_color()) for t in labels} == {"#000000"}

"""One day's work on an executor, without Spark: what ``days.process_day`` reads and writes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import shapely
import xarray as xr

from era5_contours.inputs import samples
from era5_contours.run import tasks as days
from era5_contours.run.config import JobConfig
from era5_contours.run.planning import DayTask
from era5_contours.run.report import FAILED, OK
from era5_contours.tables.rows import read_rows
from era5_tools.sample import generate_sample

DAY = date(2024, 7, 1)


@pytest.fixture(scope="module")
def land_files(tmp_path_factory) -> list[Path]:
    """One ERA5-Land day (0.1 degree, NaN over the sea, tp accumulated since 00 UTC)."""
    out = tmp_path_factory.mktemp("land")
    return generate_sample(
        out, DAY, DAY, bounds=(-6.0, 41.0, 10.0, 52.0), resolution=0.1, dataset="era5-land"
    )


def _process(files: list[Path], out: Path, **options: str):
    config = JobConfig.from_args(
        {
            "input_path": str(files[0].parent),
            "output_path": str(out),
            "start_date": DAY.isoformat(),
            "end_date": DAY.isoformat(),
            "plots": "false",
            "run_id": "r1",
            **options,
        }
    )
    ctx = days.RunContext(config=config, staging=str(out / "_staging"), attempt="a1")
    names = tuple(str(f) for f in files)
    task = DayTask(day=DAY, files={"t2m": names, "tp": names})
    return {o.variable: o for o in days.process_day(task, ctx)}


def _decimals(geoms) -> int:
    """The fewest decimals that write every coordinate of ``geoms`` exactly."""
    coords = shapely.get_coordinates(np.asarray(geoms, dtype=object))
    return next(p for p in range(11) if np.array_equal(np.round(coords, p), coords))


def _geojson_decimals(path: str) -> int:
    features = json.loads(Path(path).read_text())["features"]
    return _decimals([shapely.geometry.shape(f["geometry"]) for f in features])


def _row_decimals(path: str) -> int:
    return _decimals(shapely.from_wkt(read_rows(path).column("geometry_wkt").to_numpy()))


def test_a_day_is_streamed_and_its_geojson_is_for_browsers(land_files, tmp_path, monkeypatch):
    reads: list[int] = []
    original = samples.DaySamples._read

    def spy(self, part, positions):
        reads.append(len(positions))
        return original(self, part, positions)

    monkeypatch.setattr(samples.DaySamples, "_read", spy)
    outcomes = _process(land_files, tmp_path)
    assert {v: o.status for v, o in outcomes.items()} == {"t2m": OK, "tp": OK}
    # The samples came a couple of hours per read, never the day at once: 24 for t2m
    # (00..23 UTC), and for tp its D+1 00 UTC accumulation alone (the sample's files name
    # ERA5-Land, whose daily total that one sample is).
    assert max(reads) <= samples.HOURS_PER_READ and sum(reads) == 24 + 1

    ds = xr.open_dataset(land_files[0])
    end = np.datetime64("2024-07-02T00:00")
    # ERA5-Land's tp is the accumulation at D+1 00 UTC.
    tp = outcomes["tp"].summary
    assert tp["dataset"] == "era5-land" and tp["samples"] == 24 and tp["complete"]
    expected = ds["tp"].sel(valid_time=end).values.astype(float) * 1000.0
    assert tp["field_max"] == pytest.approx(np.nanmax(expected), rel=1e-6)
    t2m = ds["t2m"].sel(valid_time=slice("2024-07-01T00", "2024-07-01T23")).values
    assert t2m.shape[0] == 24
    mean = t2m.astype(float).mean(axis=0) - 273.15  # NaN over the sea stays NaN
    assert outcomes["t2m"].summary["field_mean"] == pytest.approx(np.nanmean(mean), rel=1e-9)

    for o in outcomes.values():
        # Default from the 0.1 degree grid: 3 decimals (a fiftieth of a cell or finer).
        assert _geojson_decimals(o.geojson) == 3
        features = json.loads(Path(o.geojson).read_text())["features"]
        assert all(shapely.geometry.shape(f["geometry"]).is_valid for f in features)
        # The rows keep --precision (4 decimals), unsimplified.
        rows = read_rows(o.rows)
        assert rows.num_rows == o.feature_count > 0
        assert _row_decimals(o.rows) == 4


def test_geojson_options_reach_the_file(land_files, tmp_path):
    coarse = _process(
        land_files, tmp_path / "a", geojson_precision="1", geojson_simplify_tolerance="0"
    )
    fine = _process(land_files, tmp_path / "b", geojson_precision="5")
    for v in ("t2m", "tp"):
        assert _geojson_decimals(coarse[v].geojson) == 1
        assert _geojson_decimals(fine[v].geojson) == 4  # the geometry has no more
        # The rows do not follow the GeoJSON's settings.
        wkt = [read_rows(o[v].rows).column("geometry_wkt") for o in (coarse, fine)]
        assert wkt[0].equals(wkt[1])


def test_an_unreadable_file_fails_its_variable_naming_file_day_and_variable(land_files, tmp_path):
    # A file that became unreadable after planning (replaced, truncated in place).
    broken = tmp_path / "in" / "era5land_2024-07_t2m.nc"
    broken.parent.mkdir()
    broken.write_bytes(b"not a NetCDF file")
    config = JobConfig.from_args(
        {
            "input_path": str(broken.parent),
            "output_path": str(tmp_path / "out"),
            "start_date": DAY.isoformat(),
            "end_date": DAY.isoformat(),
            "plots": "false",
        }
    )
    ctx = days.RunContext(config=config, staging=str(tmp_path / "out" / "_staging"), attempt="a")
    task = DayTask(day=DAY, files={"t2m": (str(broken),), "tp": (str(land_files[0]),)})
    outcomes = {o.variable: o for o in days.process_day(task, ctx)}
    assert outcomes["tp"].status == OK
    t2m = outcomes["t2m"]
    assert t2m.status == FAILED and t2m.geojson is None and t2m.rows is None
    assert t2m.error.startswith(f"file {broken}, day {DAY}, variable t2m: cannot read NetCDF")
    assert t2m.summary["error"] == t2m.error

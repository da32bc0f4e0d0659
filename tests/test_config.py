"""JobConfig: defaults, casting and validation of Glue-style arguments (plain dicts)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from era5_contours.run.config import JobConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src" / "jobs"))
import extract_contours

BASE = {
    "input_path": "s3://in/era5/",
    "output_path": "s3://out/contours/",
    "start_date": "2020-07-01",
    "end_date": "2020-07-03",
}


def test_defaults():
    c = JobConfig.from_args(BASE)
    assert c.input_path == "s3://in/era5"
    assert c.output_path == "s3://out/contours"
    assert c.warehouse_path == "s3://out/contours/warehouse"
    assert c.variables == ("t2m", "tp")
    assert c.dataset == "auto"
    assert c.min_samples_per_day is None
    assert c.catalog_type == "sql" and c.database == "climate"
    assert c.precision == 4 and c.simplify_tolerance == 0.0
    assert c.lines and c.plots and not c.allow_failed_days
    assert c.days() == [date(2020, 7, 1), date(2020, 7, 2), date(2020, 7, 3)]
    assert c.run_id  # generated
    np.testing.assert_array_equal(c.schemes["tp"].levels_for(None), [0.1, 1, 2, 5, 10, 20, 50, 100])
    t2m = c.schemes["t2m"].levels_for(None)
    assert t2m[0] == -50 and t2m[-1] == 50 and np.all(np.diff(t2m) == 2)


def test_paths():
    c = JobConfig.from_args({**BASE, "output_path": "/tmp/o"})
    assert c.geojson_path("tp", date(2020, 7, 2)) == "/tmp/o/contours/tp/2020-07-02.geojson"
    assert c.png_path("t2m", date(2020, 7, 2)) == "/tmp/o/plots/t2m/2020-07-02.png"


def test_casting_and_overrides():
    c = JobConfig.from_args(
        {
            **BASE,
            "variables": "tp",
            "dataset": "ERA5_Land",
            "min_samples_per_day": "18",
            "catalog_type": "GLUE",
            "warehouse_path": "s3://wh/",
            "tp_levels": "1,5,25",
            "t2m_levels": "interval:5:2.5",
            "precision": "3",
            "simplify_tolerance": "0.01",
            "lines": "false",
            "allow_failed_days": "yes",
            "run_id": "r1",
        }
    )
    assert c.variables == ("tp",)
    assert c.dataset == "era5-land"
    assert c.min_samples_per_day == 18
    assert c.catalog_type == "glue" and c.warehouse_path == "s3://wh"
    np.testing.assert_array_equal(c.schemes["tp"].levels_for(None), [1, 5, 25])
    np.testing.assert_array_equal(c.schemes["t2m"].levels_for(np.array([3.0, 14.0])), [7.5, 12.5])
    assert (c.precision, c.simplify_tolerance, c.lines, c.allow_failed_days, c.run_id) == (
        3,
        0.01,
        False,
        True,
        "r1",
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"start_date": ""}, "--start_date"),
        ({"end_date": "2020-06-30"}, "before"),
        ({"start_date": "2020-13-01"}, "YYYY-MM-DD"),
        ({"variables": "t2m,sst"}, "--variables"),
        ({"dataset": "merra2"}, "unknown dataset"),
        ({"min_samples_per_day": "25"}, "1..24"),
        ({"catalog_type": "hive"}, "sql or glue"),
        ({"precision": "-1"}, "--precision"),
        ({"lines": "maybe"}, "--lines"),
        ({"tp_levels": "5,1"}, "strictly increasing"),
    ],
)
def test_rejects_bad_arguments(override, message):
    with pytest.raises(ValueError, match=message):
        JobConfig.from_args({**BASE, **override})


def test_assume_units():
    c = JobConfig.from_args({**BASE, "assume_units": "t2m=degC, tp=kg m-2"})
    assert c.assume_units == {"t2m": "degC", "tp": "kg m-2"}
    assert JobConfig.from_args(BASE).assume_units == {}
    for bad, message in (
        ("t2m", "QUANTITY=UNITS"),
        ("sst=K", "unknown quantity"),
        ("t2m=m", "cannot express t2m"),
        ("tp=kelvins_maybe", "not recognised"),
    ):
        with pytest.raises(ValueError, match=message):
            JobConfig.from_args({**BASE, "assume_units": bad})


def test_local_arguments_read_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("ERA5_INPUT_PATH", "/data/in")
    monkeypatch.setenv("ERA5_DATABASE", "weather")
    args = extract_contours.parse_local_args(["--output_path", "/o", "--database", "cli"])
    assert args["input_path"] == "/data/in"
    assert args["database"] == "cli"  # the command line wins over the environment
    assert args["variables"] == "t2m,tp"


def test_geojson_precision_and_tolerance_default_to_the_grid():
    c = JobConfig.from_args(BASE)
    assert (c.geojson_precision, c.geojson_simplify_tolerance) == (None, None)
    assert (c.precision, c.simplify_tolerance) == (4, 0.0)  # the rows keep full precision
    c = JobConfig.from_args({**BASE, "geojson_precision": "5", "geojson_simplify_tolerance": "0"})
    assert (c.geojson_precision, c.geojson_simplify_tolerance) == (5, 0.0)
    for bad in ({"geojson_precision": "11"}, {"geojson_precision": "x"},
                {"geojson_simplify_tolerance": "-1"}):  # fmt: skip
        with pytest.raises(ValueError, match="geojson_"):
            JobConfig.from_args({**BASE, **bad})


def test_local_arguments_spelt_in_full(monkeypatch, tmp_path, capsys):
    """As on Glue: no prefixes, and a value may begin with a minus sign."""
    monkeypatch.chdir(tmp_path)
    args = extract_contours.parse_local_args(["--t2m_levels", "-10,0,10", "--output_path", "/o"])
    assert args["t2m_levels"] == "-10,0,10"
    with pytest.raises(SystemExit):
        extract_contours.parse_local_args(["--simplify", "0.1"])
    assert "unrecognized arguments: --simplify" in capsys.readouterr().err

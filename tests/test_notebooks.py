"""notebooks/explore_day.ipynb executed headless on a synthetic sample day.

The notebook generates the sample itself, runs the Spark job and queries the tables. The
expectations are computed here with xarray from the generated files: the band indices the
daily field must reach, the field's maximum, and the band of a grid point.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "explore_day.ipynb"
KERNEL = "era5-contours-nbtest"
DAY = date(2024, 7, 2)
# A node of the sample's 0.25 degree grid (Berlin, rainy on the sample day): strictly inside
# its band unless its value sits on a level, so that band follows from the value alone.
LON, LAT = 13.5, 52.5
# The sample's default domain (west, south, east, north) and the mean Earth radius (km).
BOUNDS = (-10.0, 35.0, 20.0, 60.0)
EARTH_RADIUS_KM = 6371.0088
# The default levels as README.md states them.
TP_LEVELS = np.array([0.1, 1, 2, 5, 10, 20, 50, 100], dtype=float)
T2M_LEVELS = np.arange(-50.0, 50.0 + 1, 2.0)


def band_of(value: float, levels: np.ndarray) -> int:
    """Band ``i`` holds ``levels[i-1] < value <= levels[i]``."""
    return int(np.searchsorted(levels, value, side="left"))


def _parameters(work: Path, output: Path) -> str:
    return "\n".join(
        [
            "INPUT_PATH = None",
            f"DAY = {DAY.isoformat()!r}",
            "VARIABLE = 'tp'",
            f"OUTPUT_PATH = {str(output)!r}",
            "RUN_JOB = True",
            f"WORK_DIR = {str(work)!r}",
            f"POINT_LON = {LON!r}",
            f"POINT_LAT = {LAT!r}",
        ]
    )


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The executed notebook, its scratch folder and output folder."""
    nbformat = pytest.importorskip("nbformat", reason="nbformat not installed")
    nbclient = pytest.importorskip("nbclient", reason="nbclient not installed")
    pytest.importorskip("ipykernel", reason="ipykernel not installed")
    pytest.importorskip("pyspark", reason="pyspark not installed")
    pytest.importorskip("duckdb", reason="duckdb not installed")

    tmp = tmp_path_factory.mktemp("notebook")
    work, output, cwd = tmp / "work", tmp / "output", tmp / "cwd"
    cwd.mkdir()

    # A kernel spec that runs this interpreter, with Spark's workers on it too; found first
    # through JUPYTER_PATH whatever kernels the machine has.
    spec_dir = tmp / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "era5-contours test",
        "language": "python",
        "env": {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(tmp / "jupyter"))
    mp.setenv("JUPYTER_RUNTIME_DIR", str(tmp / "runtime"))
    mp.setenv("IPYTHONDIR", str(tmp / "ipython"))
    mp.setenv("JUPYTER_PLATFORM_DIRS", "1")
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        cell.source = _parameters(work, output)
        client = nbclient.NotebookClient(
            nb,
            kernel_name=KERNEL,
            timeout=300,
            resources={"metadata": {"path": str(cwd)}},
        )
        client.execute()
    finally:
        mp.undo()
    return nb, work, output


def _outputs(nb, tag: str) -> list[dict]:
    cells = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"one cell tagged {tag!r} expected"
    return cells[0].outputs


def _text(nb, tag: str) -> str:
    parts = []
    for out in _outputs(nb, tag):
        if out.output_type == "stream" and out.name == "stdout":
            parts.append(out.text)
        elif out.output_type in ("display_data", "execute_result"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _table(text: str, first_column: str) -> list[dict[str, str]]:
    """Rows of a ``localquery.format_table`` grid whose header starts with ``first_column``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(" | ")[0].strip() == first_column)
    header = [h.strip() for h in lines[start].split(" | ")]
    rows = []
    for line in lines[start + 2 :]:
        if line.startswith("(") and line.endswith(")"):
            break
        rows.append(dict(zip(header, (v.strip() for v in line.split(" | ")), strict=True)))
    return rows


def _band_rows(nb) -> list[list[str]]:
    """Rows of the band table: band_index, lower, upper, parts, area_km2, vertices."""
    text = _text(nb, "bands")
    table = text[text.index("band_index") :].splitlines()[1:]
    return [line.split() for line in table if re.match(r"\d+\s", line)]


@pytest.fixture(scope="module")
def expected(executed):
    """Daily fields computed here from the files the notebook generated."""
    _, work, _ = executed
    folder = work / "sample_data" / DAY.isoformat()
    d0 = np.datetime64(DAY.isoformat(), "ns")
    d1 = np.datetime64((DAY + timedelta(days=1)).isoformat(), "ns")
    # One day in July: one file per stream.
    (tp_file,) = folder.glob("*accum_tp.nc")
    (t2m_file,) = folder.glob("*instant_t2m.nc")
    with xr.open_dataset(tp_file) as tp_ds:
        t = tp_ds["valid_time"].values
        tp = tp_ds["tp"].isel(valid_time=(t > d0) & (t <= d1))
        assert tp.sizes["valid_time"] == 24
        tp_mm = (tp.astype("float64").sum("valid_time") * 1000.0).load()
    with xr.open_dataset(t2m_file) as t_ds:
        t = t_ds["valid_time"].values
        t2m = t_ds["t2m"].isel(valid_time=(t >= d0) & (t < d1))
        assert t2m.sizes["valid_time"] == 24
        t2m_c = (t2m.astype("float64").mean("valid_time") - 273.15).load()
    return {"tp": tp_mm, "t2m": t2m_c}


def test_notebook_is_committed_clean():
    nbformat = pytest.importorskip("nbformat", reason="nbformat not installed")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c for c in code if c.outputs or c.execution_count is not None] == []
    assert [c.id for c in code if "parameters" in c.metadata.get("tags", [])] == [code[0].id]


@pytest.mark.spark
def test_runs_without_errors(executed):
    nb, _, _ = executed
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []


@pytest.mark.spark
def test_kernel_runs_this_interpreter_for_spark(executed):
    nb, _, _ = executed
    text = _text(nb, "setup")
    values = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in text.splitlines())
    )
    assert values["python"].split()[0] == sys.executable
    assert values["PYSPARK_PYTHON"] == sys.executable


@pytest.mark.spark
def test_band_table_lists_every_band_the_field_reaches(executed, expected):
    nb, _, _ = executed
    tp = expected["tp"].values
    # The field is continuous over the domain: it passes through every band between the
    # bands of its minimum and maximum.
    want = list(range(band_of(tp.min(), TP_LEVELS), band_of(tp.max(), TP_LEVELS) + 1))
    assert len(want) > 2, "the sample day should rain enough to span several bands"
    shown = [int(row[0]) for row in _band_rows(nb)]
    assert shown == want


@pytest.mark.spark
def test_band_areas_tile_the_domain(executed):
    nb, _, _ = executed
    west, south, east, north = BOUNDS
    # The lon/lat box's area on the sphere; the table's areas are on the WGS84 ellipsoid.
    box_km2 = (
        EARTH_RADIUS_KM**2
        * np.deg2rad(east - west)
        * (np.sin(np.deg2rad(north)) - np.sin(np.deg2rad(south)))
    )
    rows = _band_rows(nb)
    assert {len(row) for row in rows} == {6}, rows
    assert sum(float(row[4]) for row in rows) == pytest.approx(box_km2, rel=0.01)


@pytest.mark.spark
def test_map_png_is_displayed(executed):
    nb, _, output = executed
    images = [o for o in _outputs(nb, "map") if "image/png" in o.get("data", {})]
    assert len(images) == 1
    png = base64.b64decode(images[0]["data"]["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > 200 and height > 200
    # The job wrote its own outputs for the day too.
    assert (output / "plots" / "tp" / f"{DAY}.png").is_file()
    assert (output / "contours" / "tp" / f"{DAY}.geojson").is_file()


@pytest.mark.spark
def test_geojson_summary(executed, expected):
    nb, _, _ = executed
    text = _text(nb, "geojson")
    n_features = int(re.search(r"^(\d+) features", text, re.MULTILINE).group(1))
    properties = json.loads(text[text.index("{") :])
    assert properties["variable"] == "tp"
    assert properties["day"] == DAY.isoformat()
    assert properties["kind"] == "band"
    # Bands first, the lowest first; then at least one isoline level.
    assert properties["band_index"] == band_of(expected["tp"].values.min(), TP_LEVELS)
    n_bands = band_of(expected["tp"].values.max(), TP_LEVELS) - properties["band_index"] + 1
    assert n_features > n_bands


@pytest.mark.spark
def test_daily_series_query_lists_the_day(executed, expected):
    nb, _, _ = executed
    rows = _table(_text(nb, "query"), "day")
    assert [r["day"] for r in rows] == [DAY.isoformat()]
    row = rows[0]
    assert row["status"] == "ok"
    assert row["units"] == "mm"
    assert float(row["field_max"]) == pytest.approx(float(expected["tp"].max()), rel=1e-4)
    assert float(row["field_min"]) == pytest.approx(float(expected["tp"].min()), abs=1e-4)


@pytest.mark.spark
def test_bands_at_point_query(executed, expected):
    nb, _, _ = executed
    rows = _table(_text(nb, "query"), "variable")
    found = {r["variable"]: int(r["band_index"]) for r in rows}
    assert len(rows) == 2, rows
    assert band_of(float(expected["tp"].sel(latitude=LAT, longitude=LON)), TP_LEVELS) > 0, (
        "the point should be rainy on the sample day"
    )
    for variable, levels in (("t2m", T2M_LEVELS), ("tp", TP_LEVELS)):
        value = float(expected[variable].sel(latitude=LAT, longitude=LON))
        assert np.abs(levels - value).min() > 1e-3, "grid point sits on a level"
        assert found[variable] == band_of(value, levels), (variable, value)

"""Variables are data: the registry holds each one whole, and nothing else names one.

- The registry's records fit together (every recipe's quantities exist, formulas and
  statistics are known, units agree, no file name belongs to two quantities).
- No module of ``src`` outside the registry, nor the viewer, names a variable or a
  quantity: a string literal equal to one (docstrings aside) is a name hard-wired where
  the registry should be read.
- A made-up variable added to the registry alone, in a copy of the library, runs end to
  end: the sample generator writes its quantity, the job maps it (GeoJSON, PNG, rows), and
  its daily values equal an xarray computation on the sample files.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from era5_common import variables as registry

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "src" / "lib" / "era5_common" / "variables.py"
NAMES = set(registry.VARIABLES) | set(registry.QUANTITIES) | set(registry.FILE_NAMES)


def test_the_registry_fits_together():
    registry.check_registry()
    assert registry.DEFAULTS == ("t2m", "tp")
    for v in registry.VARIABLES.values():
        assert v.quantities and all(q in registry.QUANTITIES for q in v.quantities)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: v.__setitem__("x", registry.Variable("x", (registry.Recipe(("nope",)),), "mean", "K", (0, 1), "1,2", "viridis", "x")), "recipe"),
        (lambda v: v.__setitem__("x", registry.Variable("x", (registry.Recipe(("t2m",)),), "median", "K", (0, 1), "1,2", "viridis", "x")), "statistic"),
        (lambda v: v.__setitem__("x", registry.Variable("x", (registry.Recipe(("t2m", "tp"), "sum"),), "mean", "K", (0, 1), "1,2", "viridis", "x")), "mixes"),
        (lambda v: v.__setitem__("x", registry.Variable("x", (registry.Recipe(("tp",)),), "mean", "mm", (0, 1), "1,2", "viridis", "x")), "mean of"),
        (lambda v: v.__setitem__("x", registry.Variable("x", (registry.Recipe(("u10",), "speed"),), "mean", "m s-1", (0, 1), "1,2", "viridis", "x")), "two components"),
        (lambda v: v.__setitem__("x", registry.Variable("x", (registry.Recipe(("t2m",)), registry.Recipe(("msl",))), "mean", "K", (0, 1), "1,2", "viridis", "x")), "different units"),
    ],
)  # fmt: skip
def test_a_registry_that_does_not_fit_is_refused(monkeypatch, change, message):
    variables = dict(registry.VARIABLES)
    change(variables)
    monkeypatch.setattr(registry, "VARIABLES", variables)
    with pytest.raises(ValueError, match=message):
        registry.check_registry()


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            found.add(id(body[0].value))
    return found


def test_no_module_outside_the_registry_names_a_variable():
    named = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        if path == REGISTRY:
            continue
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docs
                and node.value in NAMES
            ):
                named.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    for path in sorted((ROOT / "viewer" / "src").glob("*.js")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//", 1)[0]
            for literal in re.findall(r"""['"`]([A-Za-z0-9_]+)['"`]|\b(\w+)\s*:""", code):
                if any(part in NAMES for part in literal):
                    named.append(f"{path.relative_to(ROOT)}:{number} {line.strip()}")
    assert not named, "names the registry should give:\n" + "\n".join(named)


def test_the_scan_finds_a_hard_wired_name(tmp_path):
    """The check above is able to fail: a module naming t2m is found."""
    source = 'def f(v):\n    """About t2m."""\n    return v == "t2m"\n'
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and id(n) not in docs and n.value in NAMES
    ]
    assert found == ["t2m"]


# --------------------------------------------------------------------------- made up

MADE_UP = """

# A made-up variable, added by tests/test_registry.py to a copy of the library.
QUANTITIES["sp"] = Quantity(
    "sp", "Surface pressure", (134, "sp"), ("sp",), "Pa", INSTANT, "surface_pressure",
    typical=(80000.0, 104000.0),
)
VARIABLES["sp_max"] = Variable(
    "sp_max", (Recipe(("sp",)),), MAXIMUM, "hPa", (30000.0, 110000.0),
    "interval:10:0:800:1050", "viridis", "daily maximum surface pressure",
    standard_name="surface_air_pressure",
)
FILE_NAMES.update({n: "sp" for n in QUANTITIES["sp"].file_names})
"""


@pytest.mark.spark
def test_a_variable_added_to_the_registry_alone_runs_end_to_end(tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(
        ROOT / "src" / "lib", lib, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    (lib / "era5_common" / "variables.py").write_text(REGISTRY.read_text() + MADE_UP)
    env = {
        **os.environ,
        "PYTHONPATH": str(lib),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "MPLBACKEND": "Agg",
    }
    sample, out = tmp_path / "sample", tmp_path / "out"
    day = date(2024, 7, 2)
    run = [sys.executable, "-m", "era5_tools.sample", "--output_dir", str(sample)]
    run += ["--start_date", "2024-07-01", "--end_date", "2024-07-03", "--variables", "sp_max"]
    run += ["--bounds", "-5", "42", "8", "51"]
    subprocess.run(run, env=env, check=True, capture_output=True, cwd=tmp_path)
    (made,) = sorted(sample.glob("*.nc"))
    assert made.name == "era5_sample_2024-07_instant_sp.nc"
    job = [sys.executable, str(ROOT / "src" / "jobs" / "extract_contours.py")]
    job += ["--input_path", str(sample), "--output_path", str(out), "--variables", "sp_max"]
    job += ["--start_date", day.isoformat(), "--end_date", day.isoformat(), "--master", "local[1]"]
    done = subprocess.run(job, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    geojson = json.loads((out / "contours" / "sp_max" / f"{day}.geojson").read_text())
    bands = [f for f in geojson["features"] if f["properties"].get("kind", "band") == "band"]
    assert bands and {f["properties"]["units"] for f in bands} == {"hPa"}
    assert bands[0]["properties"]["description"] == "daily maximum surface pressure"
    assert (out / "plots" / "sp_max" / f"{day}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The daily_summary row, read from the Iceberg table with the copy's own code.
    query = (
        "import json, sys; from era5_contours.tables.catalog import load_catalog; "
        f"t = load_catalog('sql', {str(out / 'warehouse')!r}).load_table('climate.daily_summary'); "
        "rows = t.scan().to_arrow().to_pylist(); "
        "print(json.dumps([{k: r[k] for k in ('variable', 'status', 'units', 'field_max', "
        "'feature_count', 'samples')} for r in rows]))"
    )
    rows = json.loads(
        subprocess.run(
            [sys.executable, "-c", query], env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    (row,) = rows
    assert row["variable"] == "sp_max" and row["status"] == "ok" and row["units"] == "hPa"
    assert row["samples"] == 24 and row["feature_count"] > 0
    # Independently: the maximum of the sample's hourly sp at 00..23 UTC, in hPa.
    with xr.open_dataset(made) as ds:
        hours = ds["sp"].sel(valid_time=slice(f"{day}T00", f"{day}T23"))
        assert hours.sizes["valid_time"] == 24
        expected = float(hours.max("valid_time").max()) / 100.0
    np.testing.assert_allclose(row["field_max"], expected, rtol=1e-6)

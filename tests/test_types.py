"""The library is type-checked: mypy, strict, as configured in pyproject's [tool.mypy].

mypy checks src/lib (era5_contours, era5_tools) and src/jobs against the annotations of
numpy, xarray, pyspark, pyiceberg and the stubs of the dev extras (pyarrow-stubs,
types-boto3, types-shapely, types-PyYAML). It runs for Python 3.10 (pyproject's setting:
the oldest the library supports, so newer standard-library names are errors) and again for
3.11, under which xarray's own annotations resolve fully (see pyproject). The cache in
.mypy_cache makes reruns take seconds. The check is made against the dev extras' library
versions: the Glue dev containers, whose numpy 1.x annotates arrays differently, have no
mypy and skip it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


def test_mypy_passes():
    """Both Python versions at once: each mypy is one process, and the suite uses one core."""
    pytest.importorskip(
        "mypy",
        reason="mypy runs in the project's virtualenv: bash sh/test.sh (the Glue images' "
        "numpy 1.x annotates ndarray differently)",
    )
    runs = {
        version: subprocess.Popen(
            [sys.executable, "-m", "mypy", "--python-version", version],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for version in ("3.10", "3.11")
    }
    outputs = {version: run.communicate(timeout=900)[0] for version, run in runs.items()}
    failed = {v: out for v, out in outputs.items() if runs[v].returncode != 0}
    assert not failed, "\n".join(f"mypy --python-version {v}:\n{out}" for v, out in failed.items())
    for output in outputs.values():
        assert "Success: no issues found" in output


def test_mypy_settings():
    """Strict over both packages and the job; only the modules being restructured ignored."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True and config["python_version"] == "3.10"
    assert set(config["files"]) == {"src/lib", "src/jobs"}
    ignored = {
        module
        for override in config["overrides"]
        if override.get("ignore_errors")
        for module in override["module"]
    }
    assert ignored <= {"era5_contours.pipeline", "era5_contours.catalog"}


def test_wheel_ships_py_typed(tmp_path):
    """PEP 561: both packages carry py.typed in the wheel, so users' checkers read them."""
    for name in ("pyproject.toml", "README.md"):
        (tmp_path / name).write_bytes((REPO / name).read_bytes())
    shutil.copytree(
        REPO / "src" / "lib",
        tmp_path / "src" / "lib",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*pip_wheel, "-q", "--no-index", "-w", str(tmp_path / "dist"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "dist").glob("era5_contours-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"era5_contours/py.typed", "era5_tools/py.typed"} <= names

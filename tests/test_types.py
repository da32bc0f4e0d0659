"""The library is type-checked: mypy, strict, as configured in pyproject's [tool.mypy].

mypy checks src/lib (era5_common, era5_contours, era5_tools, era5_ingest) and src/jobs,
no module exempt, against the annotations of numpy, xarray, pyspark, pyiceberg, netCDF4 and
ecmwf-datastores-client and the stubs of the dev extras (pyarrow-stubs, types-boto3,
types-shapely, types-PyYAML). It runs for Python 3.10 (pyproject's setting: the oldest the
contour library supports, so newer standard-library names are errors) and again for 3.11,
under which xarray's own annotations resolve fully (see pyproject). The CDS ingest runs on
Glue Python shell, Python 3.9: the files ruff holds to Python 3.9 (pyproject's
per-file-target-version: era5_ingest, its job and the kernel era5_common they share)
are checked once more for 3.9, whose standard library lacks e.g. ``zip(strict=)`` and
``itertools.pairwise``. The cache in .mypy_cache makes reruns take seconds. The check is
made against the dev extras' library versions: the Glue dev containers, whose numpy 1.x
annotates arrays differently, have no mypy and skip it.
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


def python39_files() -> list[str]:
    """The files pyproject's ruff settings hold to Python 3.9 (Glue Python shell)."""
    ruff = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]
    patterns = [p for p, v in ruff["per-file-target-version"].items() if v == "py39"]
    # ruff's "dir/**" is every file below dir; pathlib's "**" matches folders only.
    globs = [p + "/*" if p.endswith("**") else p for p in patterns]
    files = sorted(
        {str(path.relative_to(REPO)) for g in globs for path in REPO.glob(g) if path.is_file()}
    )
    return [f for f in files if f.endswith(".py")]


def test_python39_files_are_the_ingest_and_what_it_imports():
    files = python39_files()
    assert "src/jobs/ingest_era5.py" in files
    assert {"src/lib/era5_ingest/cds.py", "src/lib/era5_common/storage.py"} <= set(files)
    assert not [f for f in files if f.startswith("src/lib/era5_tools")]


def test_mypy_passes():
    """All runs at once: each mypy is one process, and the suite uses one core."""
    pytest.importorskip(
        "mypy",
        reason="mypy runs in the project's virtualenv: bash sh/test.sh (the Glue images' "
        "numpy 1.x annotates ndarray differently)",
    )
    commands = {
        "3.10": ["--python-version", "3.10"],
        "3.11": ["--python-version", "3.11"],
        # pyproject's files and more: the Python 3.9 files alone.
        "3.9": ["--python-version", "3.9", *python39_files()],
    }
    runs = {
        version: subprocess.Popen(
            [sys.executable, "-m", "mypy", *arguments],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for version, arguments in commands.items()
    }
    outputs = {version: run.communicate(timeout=900)[0] for version, run in runs.items()}
    failed = {v: out for v, out in outputs.items() if runs[v].returncode != 0}
    assert not failed, "\n".join(f"mypy --python-version {v}:\n{out}" for v, out in failed.items())
    for output in outputs.values():
        assert "Success: no issues found" in output


def test_mypy_settings():
    """Strict over the three packages and the jobs; no module's errors ignored."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True and config["python_version"] == "3.10"
    assert set(config["files"]) == {"src/lib", "src/jobs"}
    assert not [o["module"] for o in config["overrides"] if o.get("ignore_errors")]
    # Missing imports are allowed only for what has no annotations at all.
    lenient = {
        m for o in config["overrides"] if o.get("ignore_missing_imports") for m in o["module"]
    }
    # (h5py is Cython; h5netcdf annotates 4 of its functions; colorspacious, which only
    # the palettes' design tool imports, none.)
    unannotated = {"awsglue", "multiurl", "h5py", "h5netcdf", "colorspacious"}
    assert lenient <= unannotated | {f"{m}.*" for m in unannotated}


def test_wheel_ships_py_typed(tmp_path):
    """PEP 561: the packages carry py.typed in the wheel, so users' checkers read them."""
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
    assert {
        "era5_common/py.typed",
        "era5_contours/py.typed",
        "era5_tools/py.typed",
        "era5_ingest/py.typed",
    } <= names

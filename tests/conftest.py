"""Shared, generic fixtures: the real sample files and synthetic CF datasets.

- ``era5_dir`` / ``era5_file``: the real files in ``tests/data/era5`` (tests/realdata.py);
  tests using them get the ``realdata`` marker.
- ``cf_dataset``: builds an hourly dataset in the raw CDS layout (or any naming).
- ``write_nc``: writes a dataset to a NetCDF file under the test's ``tmp_path``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from realdata import ERA5_DIR

#: Fixtures of the dev container tests (sandbox) and of the commit protocol tests (a
#: warehouse on each catalog), shared by their modules.
pytest_plugins = ["glue_images", "commit_support"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "era5_dir" in getattr(item, "fixturenames", ()) or "era5_file" in getattr(
            item, "fixturenames", ()
        ):
            item.add_marker(pytest.mark.realdata)


@pytest.fixture(scope="session")
def era5_dir() -> Path:
    """The real ERA5 / ERA5-Land sample files (tests/data/era5; see its README)."""
    if not ERA5_DIR.is_dir():
        pytest.skip(f"real ERA5 sample files not found at {ERA5_DIR}")
    return ERA5_DIR


@pytest.fixture(scope="session")
def era5_file(era5_dir: Path) -> Callable[[str], Path]:
    """``era5_file(name)`` is the path of one real file; skips when that file is absent."""

    def get(name: str) -> Path:
        path = era5_dir / name
        if not path.is_file():
            pytest.skip(f"real sample file {name} not found in {era5_dir}")
        return path

    return get


@pytest.fixture(scope="module")
def spark():
    """A local[2] SparkSession for one test module (two worker processes, like executors).

    Module-scoped rather than session-scoped: the AWS integration test needs a session
    with its own executor environment, which getOrCreate would not give it.
    """
    pytest.importorskip("pyspark")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from era5_contours.run.spark import local_spark_session

    session = local_spark_session("local[2]", "era5-contours-tests")
    yield session
    session.stop()


@pytest.fixture
def cf_dataset() -> Callable[..., xr.Dataset]:
    """Factory for small hourly CF datasets.

    ``cf_dataset({"t2m": array(time, lat, lon)}, times, lat, lon)`` gives the current CDS
    layout (``valid_time``, ``latitude``, ``longitude``) with ERA5 units (K, m). Names,
    attributes and extra coordinates can be changed for format variants.
    """

    def make(
        variables: Mapping[str, np.ndarray],
        times: Sequence | pd.DatetimeIndex,
        lat: Sequence[float],
        lon: Sequence[float],
        *,
        time_name: str = "valid_time",
        lat_name: str = "latitude",
        lon_name: str = "longitude",
        attrs: Mapping[str, object] | None = None,
        var_attrs: Mapping[str, Mapping[str, object]] | None = None,
    ) -> xr.Dataset:
        times = pd.DatetimeIndex(times)
        units = {"t2m": "K", "tp": "m", "d2m": "K"}
        data_vars = {}
        for name, values in variables.items():
            values = np.asarray(values, dtype=np.float32)
            va = {"units": units.get(name, "1")}
            va.update((var_attrs or {}).get(name, {}))
            data_vars[name] = ((time_name, lat_name, lon_name), values, va)
        return xr.Dataset(
            data_vars,
            coords={
                time_name: times.values,
                lat_name: (lat_name, np.asarray(lat, float), {"units": "degrees_north"}),
                lon_name: (lon_name, np.asarray(lon, float), {"units": "degrees_east"}),
            },
            attrs=dict(attrs or {}),
        )

    return make


@pytest.fixture
def write_nc(tmp_path: Path) -> Callable[..., Path]:
    """``write_nc(ds, "name.nc", format="NETCDF4")`` writes under ``tmp_path``."""

    def write(ds: xr.Dataset, name: str, format: str = "NETCDF4") -> Path:
        path = tmp_path / name
        ds.to_netcdf(os.fspath(path), format=format, engine="netcdf4")
        return path

    return write


@pytest.fixture(autouse=True)
def _close_leaked_netcdf_handles():
    """Close NetCDF files that a test left open (xarray closes them when collected).

    HDF5 shares one file object between handles of the same path; a handle collected
    at a random moment while another is being opened has crashed HDF5 (vlen string
    fill values) in this suite. Collecting after each test keeps that deterministic.
    """
    yield
    import gc

    gc.collect()

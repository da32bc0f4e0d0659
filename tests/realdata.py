"""Where the real ERA5 / ERA5-Land sample files are: the one place the tests name it.

They are kept in the repository, in ``tests/data/era5`` (see its README for provenance
and the Copernicus licence attribution), so a fresh clone runs every test. Tests get them
through the ``era5_dir`` / ``era5_file`` fixtures (conftest) or these names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ERA5_DIR = Path(__file__).resolve().parent / "data" / "era5"
FRANCE_T2M = ERA5_DIR / "era5_france_2020-07_hourly_instant_t2m.nc"
FRANCE_TP = ERA5_DIR / "era5_france_2020-07_hourly_accum_tp.nc"


def require(*paths: Path) -> None:
    """Skip the calling test when a real file is absent."""
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"real ERA5 files not found in {ERA5_DIR}: {', '.join(missing)}")

"""Shared by the ingest tests: the synthetic archive, the job's command line, fast settings."""

from __future__ import annotations

import hashlib
from pathlib import Path

from era5_tools.sample import generate_sample

REPO = Path(__file__).resolve().parents[1]
JOB = REPO / "src" / "jobs" / "ingest_era5.py"

#: The synthetic archive: 2020-07-01 00 UTC .. 2020-09-01 00 UTC over a small grid.
BOUNDS = (-2.0, 44.0, 2.0, 47.0)  # west, south, east, north
AREA = "47,-2,44,2"  # NORTH,WEST,SOUTH,EAST
#: Retries and polls in milliseconds instead of minutes.
FAST = [
    "--poll_max_seconds",
    "0.02",
    "--retry_wait_seconds",
    "0.01",
    "--retry_max_wait_seconds",
    "0.04",
    "--http_timeout_seconds",
    "20",
]


def sample_archive(folder: Path) -> list[Path]:
    """era5_tools.sample files for July and August 2020 (and 1 Sep 00 UTC)."""
    return generate_sample(folder, "2020-07-01", "2020-08-31", bounds=BOUNDS, resolution=0.25)


def job_args(
    output: Path | str, start: str = "2020-07", end: str = "2020-08", *extra: str
) -> list[str]:
    """The issue's command line, with fast retries."""
    return [
        "--dataset",
        "era5",
        "--variables",
        "t2m,tp",
        "--start_month",
        start,
        "--end_month",
        end,
        "--area",
        AREA,
        "--output_path",
        str(output),
        *FAST,
        *extra,
    ]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

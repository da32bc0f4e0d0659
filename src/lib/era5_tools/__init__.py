"""The tools around the contour job; none of this is shipped to Glue.

- :mod:`era5_tools.deploy`: deploy the job to an AWS account (artifacts to S3, then the
  CloudFormation stack of Glue jobs, roles and state machine, through a change set).
- :mod:`era5_tools.sample`: synthetic hourly input in the layout of the Climate Data Store.
- :mod:`era5_tools.localquery`: DuckDB on the Iceberg tables, the local stand-in for Athena.
- :mod:`era5_tools.viewer`: serves the Leaflet map viewer over a job's output.

The job itself (what Glue runs) is the :mod:`era5_contours` package.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repository_root"]


def repository_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The checkout these tools work on.

    The nearest folder upward from ``start`` (default: the current directory) that holds
    this project's ``pyproject.toml``.

    Raises
    ------
    FileNotFoundError
        Outside a checkout of the project.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "era5-contours"' in pyproject.read_text():
            return folder
    raise FileNotFoundError(
        f"no era5-contours checkout at or above {here}: run from the repository or pass --root"
    )

"""The tools around the contour job; none of this is shipped to Glue.

- :mod:`era5_tools.deploy`: deploy the job to an AWS account (artifacts to S3, then the
  CloudFormation stack of Glue jobs, roles and state machine, through a change set).
- :mod:`era5_tools.sample`: synthetic hourly input in the layout of the Climate Data Store.
- :mod:`era5_tools.localquery`: DuckDB on the Iceberg tables, the local stand-in for Athena.
- :mod:`era5_tools.viewer`: serves the Leaflet map viewer over a job's output.

The job itself (what Glue runs) is the :mod:`era5_contours` package.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

__all__ = ["configure_logging", "read_env_file", "repository_root"]


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


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """``KEY=value`` pairs of a ``.env`` file, not executed; a missing file gives ``{}``.

    python-dotenv reads it, as it does for local job runs: one reading of ``.env`` for the
    whole project (quotes, ``export`` and comments as a shell would take them).

    Raises
    ------
    ValueError
        Naming the line of an entry that is not ``KEY=value``.
    """
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    path = Path(path)
    if not path.is_file():
        return {}
    with path.open() as stream:
        for binding in parse_stream(stream):
            if binding.error or (binding.key is not None and binding.value is None):
                number = binding.original.line
                raise ValueError(
                    f"{path}:{number}: expected KEY=value, got {binding.original.string.strip()!r}"
                )
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def configure_logging(level: str = "INFO") -> None:
    """Log lines of the tools' command lines to stderr (the library never configures it)."""
    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )

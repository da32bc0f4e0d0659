"""Where a run's outputs go under ``--output_path``: one layout for the job and the viewer.

::

    {output_path}/contours/{variable}/{YYYY-MM-DD}.geojson
    {output_path}/plots/{variable}/{YYYY-MM-DD}.png
    {output_path}/_staging/{attempt}/...     a run's maps (and feature rows) until its
                                             tables commit
"""

from __future__ import annotations

from datetime import date

from era5_common.storage import join

CONTOURS = "contours"
PLOTS = "plots"
#: Runs stage their GeoJSON and PNG here and publish them once their tables commit.
STAGING = "_staging"
#: The folders a map viewer serves (never the staging area).
PUBLISHED = (CONTOURS, PLOTS)
#: Under a staging folder: each (day, variable)'s feature rows (Arrow IPC) until the
#: month they belong to is written as table data files.
ROWS = "rows"


def geojson_relpath(variable: str, day: date) -> str:
    """The GeoJSON of a (day, variable), relative to an output path or staging folder."""
    return f"{CONTOURS}/{variable}/{day.isoformat()}.geojson"


def png_relpath(variable: str, day: date) -> str:
    """The PNG map of a (day, variable), relative to an output path or staging folder."""
    return f"{PLOTS}/{variable}/{day.isoformat()}.png"


def geojson_path(root: str, variable: str, day: date) -> str:
    """The GeoJSON of a (day, variable) under ``root`` (an output path or a staging folder)."""
    return join(root, geojson_relpath(variable, day))


def png_path(root: str, variable: str, day: date) -> str:
    """The PNG map of a (day, variable) under ``root``."""
    return join(root, png_relpath(variable, day))


def staging_path(output_path: str, attempt: str) -> str:
    """The folder where one run stages its maps."""
    return join(output_path, STAGING, attempt)


def rows_path(staging: str, variable: str, day: date) -> str:
    """Where a run stages the feature rows of a (day, variable) (Arrow IPC stream)."""
    return join(staging, ROWS, variable, f"{day.isoformat()}.arrow")

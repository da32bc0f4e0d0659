"""Feature rows for the Iceberg table ``contour_features``.

One row per polygon of a band and per line of an isoline level: a band covering a
continent becomes one row per island rather than one huge MultiPolygon, which keeps rows
a sensible size for Athena. WKT is valid and simple (each row is one Polygon or one
LineString), as ``ST_GeometryFromText`` assumes. Areas and lengths are on the WGS84
ellipsoid, computed for all rows at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from pyproj import Geod
from shapely import GeometryType

from era5_contours.science import rings as rings_
from era5_contours.science.contours import (
    Band,
    Isoline,
    LineArrays,
    PolygonArrays,
    band_arrays,
    isoline_arrays,
    join_line_arrays,
    join_polygon_arrays,
)
from era5_contours.tables.schema import CONTOUR_FEATURES

_GEOD = Geod(ellps="WGS84")
#: WGS84 semi-major axis (m). In Lambert's cylindrical equal-area projection of the
#: ellipsoid (true scale at the equator) ``x = a λ`` and ``a y`` is the zone area per
#: radian of longitude.
_EQUAL_AREA_A = 6378137.0


#: Gauss-Legendre nodes and weights on [0, 1] (2 points: exact for cubics, so to ~1e-12
#: relative over an edge one grid cell long).
_GL_T = (1.0 + np.array([-1.0, 1.0]) / np.sqrt(3.0)) / 2.0
_GL_W = np.array([0.5, 0.5])
_WGS84_E2 = 0.00669437999014  # first eccentricity squared


def _authalic_y(lat_deg: np.ndarray) -> np.ndarray:
    """``y`` of the cylindrical equal-area projection of WGS84 (metres), closed form.

    The same numbers as PROJ's ``+proj=cea +ellps=WGS84`` (checked in the tests), at a
    fraction of the cost of a transform call per point: ``y = a q / 2`` with Snyder's
    ``q = (1 - e²) (sin φ / (1 - e² sin² φ) + artanh(e sin φ) / e)``.
    """
    s = np.sin(np.radians(lat_deg))
    e = np.sqrt(_WGS84_E2)
    q = (1.0 - _WGS84_E2) * (s / (1.0 - _WGS84_E2 * s * s) + np.arctanh(e * s) / e)
    y: np.ndarray = 0.5 * _EQUAL_AREA_A * q
    return y


def polygon_areas_km2(polygons: np.ndarray) -> np.ndarray:
    """Area of each polygon on the WGS84 ellipsoid (holes subtracted), km², vectorised.

    A contour polygon's edges are straight in longitude and latitude (contourpy
    interpolates on the lon/lat grid), so its area is the loop integral of the
    ellipsoid's zone area: ``A = |sum over edges of (x1 - x0) * mean y|`` in Lambert's
    cylindrical equal-area projection (``x = a * lon``, ``y`` the authalic latitude
    function), with ``y`` averaged along each edge by 3-point
    Gauss-Legendre quadrature. One numpy pass for every polygon of a day, where pyproj's
    geodesic area takes a call per ring (0.4 s for the 5,700 rings of a global 0.25
    degree field) and would bend each edge into a geodesic.
    """
    polygons = np.asarray(polygons, dtype=object)
    if polygons.size == 0:
        return np.zeros(0)
    _, pts, (rings, polys) = shapely.to_ragged_array(polygons)
    return _ragged_areas_km2(pts, rings, polys)


#: Edges per slice of the per-edge quadratures: their temporaries (a dozen arrays of two
#: nodes per edge) stay a few MB instead of 50 MB on a global 0.25 degree tp day, the
#: largest allocation of a worker after the day's samples are read.
_EDGES_PER_SLICE = 1 << 16


def _edge_mean_y(lat: np.ndarray) -> np.ndarray:
    """Mean authalic ``y`` along each edge ``lat[i]`` -> ``lat[i + 1]``, slice by slice."""
    mean_y = np.empty(max(len(lat) - 1, 0))
    for a in range(0, len(mean_y), _EDGES_PER_SLICE):
        b = min(a + _EDGES_PER_SLICE, len(mean_y))
        lat0, lat1 = lat[a:b], lat[a + 1 : b + 1]
        nodes = lat0[:, None] + (lat1 - lat0)[:, None] * _GL_T[None, :]
        mean_y[a:b] = _authalic_y(nodes) @ _GL_W
    return mean_y


def _ragged_areas_km2(pts: np.ndarray, rings: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """:func:`polygon_areas_km2` of polygons given as ragged arrays."""
    if len(polys) < 2:
        return np.zeros(0)
    x = np.radians(pts[:, 0]) * _EQUAL_AREA_A
    term = np.zeros(len(pts))
    term[:-1] = (x[1:] - x[:-1]) * _edge_mean_y(pts[:, 1])
    term[rings[1:] - 1] = 0.0  # no edge from a ring's last vertex to the next ring
    ring_area = np.abs(np.add.reduceat(term, rings[:-1]))
    outer = np.zeros(len(rings) - 1, dtype=bool)
    outer[polys[:-1]] = True
    signed = np.where(outer, ring_area, -ring_area)
    poly_of_ring = np.repeat(np.arange(len(polys) - 1), np.diff(polys))
    return np.bincount(poly_of_ring, weights=signed, minlength=len(polys) - 1) / 1e6


def line_lengths_km(lines: np.ndarray) -> np.ndarray:
    """Length of each LineString on the WGS84 ellipsoid, km, vectorised.

    Isolines are straight in longitude and latitude (like the polygons' edges): each
    segment's length is the integral of the ellipsoid's line element
    ``ds² = (M dφ)² + (N cos φ dλ)²`` along it (M, N the radii of curvature), by 2-point
    Gauss-Legendre quadrature, in numpy for all segments at once (pyproj's geodesic
    solves an inverse problem per segment: 0.45 s for a global 0.25 degree day). For
    segments a grid cell long this is the geodesic length to ~1e-7.
    """
    lines = np.asarray(lines, dtype=object)
    if lines.size == 0:
        return np.zeros(0)
    coords, index = shapely.get_coordinates(lines, return_index=True)
    return _indexed_lengths_km(coords, index, lines.size)


def _indexed_lengths_km(coords: np.ndarray, index: np.ndarray, n_lines: int) -> np.ndarray:
    """:func:`line_lengths_km` of ``n_lines`` lines, vertex ``coords[i]`` in line ``index[i]``."""
    if len(coords) < 2:
        return np.zeros(n_lines)
    lam, phi = np.radians(coords[:, 0]), np.radians(coords[:, 1])
    seg = np.empty(len(coords) - 1)
    for a in range(0, len(seg), _EDGES_PER_SLICE):
        b = min(a + _EDGES_PER_SLICE, len(seg))
        dlam, dphi = lam[a + 1 : b + 1] - lam[a:b], phi[a + 1 : b + 1] - phi[a:b]
        nodes = phi[a:b, None] + dphi[:, None] * _GL_T[None, :]
        w = 1.0 - _WGS84_E2 * np.sin(nodes) ** 2
        m = _EQUAL_AREA_A * (1.0 - _WGS84_E2) / w**1.5
        n = _EQUAL_AREA_A / np.sqrt(w)
        seg[a:b] = np.hypot(m * dphi[:, None], n * np.cos(nodes) * dlam[:, None]) @ _GL_W
    same = index[1:] == index[:-1]
    lengths: np.ndarray = np.bincount(index[1:][same], weights=seg[same], minlength=n_lines) / 1e3
    return lengths


def geodesic_area_km2(polygon: shapely.Polygon) -> float:
    """Area on the WGS84 ellipsoid (holes subtracted), km² (see :func:`polygon_areas_km2`)."""
    return float(polygon_areas_km2(np.array([polygon], dtype=object))[0])


def geodesic_length_km(line: shapely.LineString) -> float:
    """Length on the WGS84 ellipsoid, km."""
    return float(line_lengths_km(np.array([line], dtype=object))[0])


def _wkt_options(coords: list[np.ndarray], precision: int | None) -> dict[str, Any]:
    """``to_wkt`` options writing at most ``precision`` decimals, as fast as possible.

    Geometries from :func:`~era5_contours.science.contours.contour_bands` are already rounded to
    the precision (``coords`` are all their vertices); the shortest round-trip repr
    (``rounding_precision=-1``) then writes the very same digits as GEOS's rounding, and
    in 60% of the time.
    """
    if precision is None:
        return {"rounding_precision": -1}
    if all(np.array_equal(np.round(c, precision), c) for c in coords):
        return {"rounding_precision": -1}
    return {"rounding_precision": precision, "trim": True}


def _geometry_wkt(
    polygons: PolygonArrays, lines: LineArrays, precision: int | None
) -> pa.Array[Any]:
    """WKT of every polygon, then every line, by GEOS from the arrays.

    The geometries are rebuilt from the arrays (``from_ragged_array``: a tenth of what
    ``get_parts`` of the bands cost). GEOS's writer stays: two writers for all rows at
    once, one in numpy (every integer part and fraction looked up in tables) and one
    splicing orjson's text of all the numbers, gave GEOS's text byte for byte but took
    1.6x and 2x its time on a global 0.25 degree tp day (0.1 s for 718,000 vertices).
    """
    pts, rings, polys = polygons
    line_pts, line_offsets = lines
    geoms = [
        shapely.from_ragged_array(GeometryType.POLYGON, pts, (rings, polys)),
        shapely.from_ragged_array(GeometryType.LINESTRING, line_pts, (line_offsets,)),
    ]
    text = shapely.to_wkt(np.concatenate(geoms), **_wkt_options([pts, line_pts], precision))
    column: pa.Array[Any] = pa.array(text, type=pa.string())
    return column


def _per_part(values: Sequence[float | None], counts: np.ndarray) -> pa.Array[Any]:
    """A float column repeating each band's (or line's) value over its parts."""
    missing = np.array([v is None for v in values], dtype=bool)
    numbers = np.array([np.nan if v is None else v for v in values], dtype=float)
    column: pa.Array[Any] = pa.array(np.repeat(numbers, counts), mask=np.repeat(missing, counts))
    return column


def _part_index(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each run of ``counts`` parts."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    index: np.ndarray = np.arange(int(counts.sum())) - starts
    return index


def _index_columns(
    bands: Sequence[Band], lines: Sequence[Isoline], n_band: np.ndarray, n_line: np.ndarray
) -> dict[str, Any]:
    """kind, levels and indices of every row (each band's or line's, over its parts)."""
    n_polys, n_parts = int(n_band.sum()), int(n_line.sum())
    counts = np.concatenate([n_band, n_line])
    index = [b.band_index for b in bands] + [x.level_index for x in lines]
    return {
        "kind": pa.concat_arrays(
            [pa.repeat(pa.scalar("band"), n_polys), pa.repeat(pa.scalar("line"), n_parts)]
        ),
        "level_lower": pa.concat_arrays(
            [
                _per_part([b.lower for b in bands], n_band),
                _per_part([x.level for x in lines], n_line),
            ]
        ),
        "level_upper": pa.concat_arrays(
            [
                _per_part([b.upper for b in bands], n_band),
                _per_part([x.level for x in lines], n_line),
            ]
        ),
        "band_index": np.repeat(np.array(index, dtype=np.int32), counts),
        "part_index": _part_index(counts).astype(np.int32),
    }


def _geometry_columns(
    polygons: PolygonArrays, lines: LineArrays, precision: int | None
) -> dict[str, Any]:
    """WKT, bounding box, area or length and vertex count of every polygon, then line."""
    pts, rings, polys = polygons
    line_pts, line_offsets = lines
    n_polys, n_parts = len(polys) - 1, len(line_offsets) - 1
    bounds = np.concatenate(
        [rings_.polygon_boxes(pts, rings, polys), rings_.boxes(line_pts, line_offsets)]
    )
    lengths = _indexed_lengths_km(line_pts, rings_.run_of(line_offsets), n_parts)
    return {
        "geometry_wkt": _geometry_wkt(polygons, lines, precision),
        "bbox_min_lon": bounds[:, 0],
        "bbox_min_lat": bounds[:, 1],
        "bbox_max_lon": bounds[:, 2],
        "bbox_max_lat": bounds[:, 3],
        "area_km2": pa.concat_arrays(
            [pa.array(_ragged_areas_km2(pts, rings, polys)), pa.nulls(n_parts, pa.float64())]
        ),
        "length_km": pa.concat_arrays([pa.nulls(n_polys, pa.float64()), pa.array(lengths)]),
        "vertex_count": np.concatenate([np.diff(rings[polys]), np.diff(line_offsets)]).astype(
            np.int32
        ),
    }


def feature_rows(
    bands: Sequence[Band],
    lines: Sequence[Isoline],
    *,
    variable: str,
    units: str,
    day: date,
    dataset: str,
    source_files: Sequence[str],
    run_id: str,
    precision: int | None = 4,
) -> pa.Table:
    """Rows of one variable and day, typed by :data:`schema.CONTOUR_FEATURES`.

    Everything is taken from the coordinate arrays the bands and isolines keep (or
    extracted once where they do not): WKT, bounding boxes, vertex counts, areas and
    lengths, for all rows at once, with no GEOS geometry per part to extract.
    """
    band_arrays_ = [band_arrays(b) for b in bands]
    line_arrays_ = [isoline_arrays(ln) for ln in lines]
    n_band = np.array([len(a[2]) - 1 for a in band_arrays_], dtype=np.int64)
    n_line = np.array([len(a[1]) - 1 for a in line_arrays_], dtype=np.int64)
    n = int(n_band.sum() + n_line.sum())
    if n == 0:
        return CONTOUR_FEATURES.arrow_schema.empty_table()
    polygons = join_polygon_arrays(
        band_arrays_ or [(np.empty((0, 2)), np.zeros(1, np.int64), np.zeros(1, np.int64))]
    )
    line_parts = join_line_arrays(line_arrays_ or [(np.empty((0, 2)), np.zeros(1, np.int64))])
    cols: dict[str, Any] = {
        **_index_columns(bands, lines, n_band, n_line),
        **_geometry_columns(polygons, line_parts, precision),
        "day": pa.repeat(pa.scalar(day, type=pa.date32()), n),
        "variable": pa.repeat(pa.scalar(variable), n),
        "units": pa.repeat(pa.scalar(units), n),
        "dataset": pa.repeat(pa.scalar(dataset), n),
        "source_files": pa.repeat(pa.scalar(list(source_files), type=pa.list_(pa.string())), n),
        "run_id": pa.repeat(pa.scalar(run_id), n),
    }
    ordered = {name: cols[name] for name in CONTOUR_FEATURES.column_names}
    return pa.Table.from_pydict(ordered, schema=CONTOUR_FEATURES.arrow_schema)

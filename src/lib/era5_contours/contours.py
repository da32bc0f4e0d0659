"""Filled bands and isolines of a gridded field, as valid shapely geometries.

contourpy (matplotlib's own contouring engine) is called directly: no pyplot, no figure,
and its polygons come with their holes already assigned to the right outer ring
(``FillType.ChunkCombinedOffsetOffset``), which pyplot-path based converters guess at.
The polygons are built in one vectorised call with ``shapely.from_ragged_array``.

Values are point samples at the grid coordinates (ERA5 convention), NaN cells are masked,
and a grid that spans 360 degrees of longitude is closed at the antimeridian.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import contourpy
import numpy as np
import shapely
from shapely import GeometryType, MultiLineString, MultiPolygon
from shapely.geometry.base import BaseGeometry

if TYPE_CHECKING:  # contourpy's return shapes exist in its stubs only
    from contourpy._contourpy import (
        FillReturn_ChunkCombinedOffsetOffset,
        LineReturn_ChunkCombinedOffset,
    )

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Band:
    """Cells with ``lower < value <= upper``; ``None`` bounds are open-ended."""

    band_index: int
    lower: float | None
    upper: float | None
    geometry: MultiPolygon


@dataclass(frozen=True)
class Isoline:
    """The line(s) where the field crosses ``level``."""

    level_index: int
    level: float
    geometry: MultiLineString


def close_longitude(lon: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Append the first column at ``lon[0] + 360`` when the grid is global in longitude.

    Without it a global field has a one-cell gap at the antimeridian.
    """
    if lon.size < 3:
        return lon, values
    step = np.diff(lon)
    if not np.allclose(step, step[0], rtol=0, atol=1e-6):
        return lon, values
    if not np.isclose(lon[-1] - lon[0] + step[0], 360.0, atol=1e-6):
        return lon, values
    return np.append(lon, lon[0] + 360.0), np.concatenate([values, values[:, :1]], axis=1)


def _generator(lon: np.ndarray, lat: np.ndarray, values: np.ndarray) -> contourpy.ContourGenerator:
    """contourpy generator on the grid (closed at the antimeridian when global)."""
    lon, values = close_longitude(np.asarray(lon, float), np.asarray(values, float))
    if not np.isfinite(values).any():
        raise ValueError("the field has no finite value")
    z = np.ma.masked_invalid(values)
    return contourpy.contour_generator(
        lon,
        np.asarray(lat, float),
        z,
        name="serial",
        corner_mask=True,
        fill_type=contourpy.FillType.ChunkCombinedOffsetOffset,
        line_type=contourpy.LineType.ChunkCombinedOffset,
    )


def _polygons(filled: FillReturn_ChunkCombinedOffsetOffset) -> np.ndarray:
    points, offsets, outer_offsets = filled
    parts = []
    for pts, off, outer in zip(points, offsets, outer_offsets, strict=True):
        if pts is None or off is None or outer is None or len(pts) == 0:
            continue
        parts.append(
            shapely.from_ragged_array(
                GeometryType.POLYGON, pts, (off.astype(np.int64), outer.astype(np.int64))
            )
        )
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)


def _lines(lines: LineReturn_ChunkCombinedOffset) -> np.ndarray:
    points, offsets = lines
    parts = []
    for pts, off in zip(points, offsets, strict=True):
        if pts is None or off is None or len(pts) == 0:
            continue
        parts.append(
            shapely.from_ragged_array(GeometryType.LINESTRING, pts, (off.astype(np.int64),))
        )
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)


def _only_polygons(geom: shapely.Geometry) -> MultiPolygon:
    """Polygonal parts of a geometry as a MultiPolygon (make_valid may add lines/points)."""
    parts = shapely.get_parts(geom)
    polys: list[shapely.Polygon] = []
    for part in parts:
        if isinstance(part, shapely.Polygon):
            polys.append(part)
        elif isinstance(part, (MultiPolygon, shapely.GeometryCollection)):
            polys.extend(_only_polygons(part).geoms)
    return MultiPolygon([p for p in polys if not p.is_empty])


def clean_polygons(
    polygons: np.ndarray, *, precision: int | None, simplify_tolerance: float
) -> MultiPolygon:
    """Make a band valid, simplified, snapped to ``10**-precision`` degrees, CCW outside.

    contourpy rings may touch themselves at saddle points, which OGC validity forbids;
    ``make_valid`` rebuilds them without moving any vertex.
    """
    if polygons.size == 0:
        return MultiPolygon()
    invalid = ~shapely.is_valid(polygons)
    if invalid.any():
        polygons = polygons.copy()
        polygons[invalid] = shapely.make_valid(polygons[invalid])
    geom: BaseGeometry = _only_polygons(shapely.GeometryCollection(list(polygons)))
    if precision is None and not geom.is_valid:
        # Parts of one band only ever touch at points, but be safe: dissolve if needed.
        # (With a precision, set_precision below returns valid output anyway, and this
        # check on the whole band cost ~22% of a global field.)
        geom = _only_polygons(shapely.make_valid(geom))
    if simplify_tolerance > 0:
        geom = shapely.simplify(geom, simplify_tolerance, preserve_topology=True)
    if precision is not None:
        # set_precision snaps to the grid and returns valid output (collapsed slivers go).
        geom = shapely.set_precision(geom, 10.0**-precision)
    geom = shapely.orient_polygons(_only_polygons(geom), exterior_cw=False)
    return _only_polygons(geom)


def clean_lines(
    lines: np.ndarray, *, precision: int | None, simplify_tolerance: float
) -> MultiLineString:
    """Simplify and snap isolines into simple parts; drop parts shorter than the grid.

    Snapping can fold a line back on itself (a spike of one grid step) or shrink a tiny
    loop to a back-and-forth; Athena assumes simple geometries, so a part that is no
    longer simple is re-noded (``unary_union``) and merged back into simple pieces.
    """
    if lines.size == 0:
        return MultiLineString()
    if simplify_tolerance > 0:
        lines = shapely.simplify(lines, simplify_tolerance, preserve_topology=True)
    min_length = 0.0
    if precision is not None:
        grid = 10.0**-precision
        lines = shapely.remove_repeated_points(shapely.set_precision(lines, grid, mode="pointwise"))
        min_length = 2 * grid
    simple = shapely.is_simple(lines)
    if not simple.all():
        repaired = [
            piece
            for g in lines[~simple]
            for piece in shapely.get_parts(shapely.line_merge(shapely.unary_union(g)))
        ]
        lines = np.concatenate([lines[simple], np.array(repaired, dtype=object)])
    keep = [
        g
        for g in lines
        if not g.is_empty and shapely.get_num_coordinates(g) >= 2 and g.length > min_length
    ]
    return MultiLineString(keep)


def contour_bands(
    lon: np.ndarray,
    lat: np.ndarray,
    values: np.ndarray,
    levels: np.ndarray,
    *,
    precision: int | None = 4,
    simplify_tolerance: float = 0.0,
) -> list[Band]:
    """Filled bands of ``values`` (``lat`` x ``lon``) between ``levels``.

    Band ``i`` holds ``levels[i-1] < v <= levels[i]``; band 0 (``v <= levels[0]``) and
    band ``len(levels)`` (``v > levels[-1]``) are open-ended and present only when the data
    reach them. Empty bands are left out.
    """
    levels = np.asarray(levels, dtype=float)
    gen = _generator(lon, lat, values)
    edges = [-np.inf, *levels.tolist(), np.inf]
    bands: list[Band] = []
    for i in range(len(edges) - 1):
        lower, upper = edges[i], edges[i + 1]
        # The fill type _generator asks for fixes the shape of what filled() returns.
        polygons = _polygons(cast("FillReturn_ChunkCombinedOffsetOffset", gen.filled(lower, upper)))
        geom = clean_polygons(polygons, precision=precision, simplify_tolerance=simplify_tolerance)
        if geom.is_empty:
            continue
        bands.append(
            Band(
                band_index=i,
                lower=None if np.isinf(lower) else float(lower),
                upper=None if np.isinf(upper) else float(upper),
                geometry=geom,
            )
        )
    return bands


def contour_lines(
    lon: np.ndarray,
    lat: np.ndarray,
    values: np.ndarray,
    levels: np.ndarray,
    *,
    precision: int | None = 4,
    simplify_tolerance: float = 0.0,
) -> list[Isoline]:
    """Isolines of ``values`` at each level the data cross; empty levels are left out."""
    levels = np.asarray(levels, dtype=float)
    gen = _generator(lon, lat, values)
    out: list[Isoline] = []
    for i, level in enumerate(levels.tolist()):
        geom = clean_lines(
            # The line type _generator asks for fixes the shape of what lines() returns.
            _lines(cast("LineReturn_ChunkCombinedOffset", gen.lines(level))),
            precision=precision,
            simplify_tolerance=simplify_tolerance,
        )
        if not geom.is_empty:
            out.append(Isoline(level_index=i, level=float(level), geometry=geom))
    return out

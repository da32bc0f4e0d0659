"""RFC 7946 GeoJSON FeatureCollections for web maps.

One feature per band (MultiPolygon) and per isoline level (MultiLineString), WGS84
lon/lat, exteriors counter-clockwise (right-hand rule), coordinates rounded to the
precision the geometry was snapped to. Properties carry the numeric facts (variable,
units, day, levels, band_index) and the styling keys geojsoncontour emits (fill,
fill-opacity, stroke, stroke-width, stroke-opacity, title) so existing Leaflet styles work.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import shapely
from shapely import GeometryType

from .contours import Band, Isoline
from .levels import band_colors, line_colors


def geometry_to_geojson(geom: shapely.Geometry, precision: int | None) -> dict[str, Any]:
    """GeoJSON geometry of a (Multi)Polygon or (Multi)LineString, coordinates rounded."""
    gtype, coords, offsets = shapely.to_ragged_array([geom])
    pts = (np.round(coords, precision) if precision is not None else coords).tolist()

    def spans(off: np.ndarray) -> list[tuple[int, int]]:
        return list(zip(off[:-1].tolist(), off[1:].tolist(), strict=True))

    if gtype == GeometryType.MULTIPOLYGON:
        rings, polys, _ = offsets
        ring_spans = spans(rings)
        return {
            "type": "MultiPolygon",
            "coordinates": [[pts[a:b] for a, b in ring_spans[p0:p1]] for p0, p1 in spans(polys)],
        }
    if gtype == GeometryType.POLYGON:
        rings, _ = offsets
        return {"type": "Polygon", "coordinates": [pts[a:b] for a, b in spans(rings)]}
    if gtype == GeometryType.MULTILINESTRING:
        parts, _ = offsets
        return {"type": "MultiLineString", "coordinates": [pts[a:b] for a, b in spans(parts)]}
    if gtype == GeometryType.LINESTRING:
        return {"type": "LineString", "coordinates": pts}
    raise TypeError(f"unsupported geometry type {gtype!r}")


def _fmt(v: float) -> str:
    return f"{v:.2f}"


def band_title(band: Band, units: str) -> str:
    """geojsoncontour's title format: ``"<0.10 mm"``, ``"0.10-1.00 mm"``, ``">100.00 mm"``."""
    if band.lower is None and band.upper is not None:
        label = f"<{_fmt(band.upper)}"
    elif band.upper is None and band.lower is not None:
        label = f">{_fmt(band.lower)}"
    elif band.lower is not None and band.upper is not None:
        label = f"{_fmt(band.lower)}-{_fmt(band.upper)}"
    else:
        label = "all"
    return f"{label} {units}"


def feature_collection(
    bands: Sequence[Band],
    lines: Sequence[Isoline],
    *,
    levels: np.ndarray,
    cmap: str,
    variable: str,
    units: str,
    day: date,
    dataset: str,
    precision: int | None = 4,
    fill_opacity: float = 0.9,
    stroke_width: float = 1.0,
    extra_properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the FeatureCollection of one variable and day (bands first, then lines)."""
    fills = band_colors(levels, cmap)
    strokes = line_colors(levels, cmap)
    common = {"variable": variable, "units": units, "day": day.isoformat(), "dataset": dataset}
    if extra_properties:
        common.update(extra_properties)
    features: list[dict[str, Any]] = []
    for band in bands:
        color = fills[band.band_index]
        features.append(
            {
                "type": "Feature",
                "geometry": geometry_to_geojson(band.geometry, precision),
                "properties": {
                    **common,
                    "kind": "band",
                    "level_lower": band.lower,
                    "level_upper": band.upper,
                    "band_index": band.band_index,
                    "fill": color,
                    "fill-opacity": fill_opacity,
                    "stroke": color,
                    "stroke-width": stroke_width,
                    "stroke-opacity": 1,
                    "title": band_title(band, units),
                },
            }
        )
    for line in lines:
        features.append(
            {
                "type": "Feature",
                "geometry": geometry_to_geojson(line.geometry, precision),
                "properties": {
                    **common,
                    "kind": "line",
                    "level": line.level,
                    "level_index": line.level_index,
                    "stroke": strokes[line.level_index],
                    "stroke-width": stroke_width,
                    "stroke-opacity": 1,
                    "title": f"{_fmt(line.level)} {units}",
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def dumps(collection: dict[str, Any]) -> str:
    """Compact JSON; NaN is refused (RFC 8259 has no NaN)."""
    return json.dumps(collection, separators=(",", ":"), allow_nan=False)

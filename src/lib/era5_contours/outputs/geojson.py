"""RFC 7946 GeoJSON FeatureCollections for web maps.

One feature per band (MultiPolygon) and per isoline level (MultiLineString), WGS84
lon/lat, exteriors counter-clockwise (right-hand rule), coordinates rounded to the
precision the geometry was snapped to (or coarser, see :func:`geojson_bytes`). Properties carry the numeric facts (variable,
units, day, levels, band_index) and the styling keys geojsoncontour emits (fill,
fill-opacity, stroke, stroke-width, stroke-opacity, title) so existing Leaflet styles work,
plus what a reader is shown: ``label`` ("6–8 °C") and the variable's ``description``
("daily mean 2 m temperature").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import orjson
import shapely
from shapely import GeometryType

from era5_common.variables import VARIABLES
from era5_contours.science.contours import (
    Band,
    Isoline,
    band_arrays,
    isoline_arrays,
    simplify_coverage,
)
from era5_contours.science.levels import band_colors, line_colors

from .labels import band_label, level_label


def geometry_to_geojson(geom: shapely.Geometry, precision: int | None) -> dict[str, Any]:
    """GeoJSON geometry of a (Multi)Polygon or (Multi)LineString, coordinates rounded."""
    gtype, coords, offsets = shapely.to_ragged_array([geom])
    pts = (np.round(coords, precision) if precision is not None else coords).tolist()
    return _nested(gtype, pts, offsets)


def _nested(gtype: GeometryType, pts: Any, offsets: tuple[Any, ...]) -> dict[str, Any]:
    """GeoJSON geometry of ``to_ragged_array`` output, positions sliced from ``pts``.

    ``pts`` is a list of pairs, or an ``(n, 2)`` array that orjson writes directly.
    """

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


def _properties(
    bands: Sequence[Band],
    lines: Sequence[Isoline],
    *,
    levels: np.ndarray,
    cmap: str,
    variable: str,
    units: str,
    day: date,
    dataset: str,
    fill_opacity: float,
    stroke_width: float,
    extra_properties: dict[str, Any] | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The properties of each band's and each isoline's feature."""
    fills = band_colors(levels, cmap)
    strokes = line_colors(levels, cmap)
    common: dict[str, Any] = {
        "variable": variable,
        "units": units,
        "day": day.isoformat(),
        "dataset": dataset,
    }
    known = VARIABLES.get(variable)
    if known is not None:
        # The day's statistic, for legends: "daily mean 2 m temperature".
        common["description"] = known.description
    if extra_properties:
        common.update(extra_properties)
    band_props = []
    for band in bands:
        color = fills[band.band_index]
        band_props.append(
            {
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
                "label": band_label(band.lower, band.upper, units),
            }
        )
    line_props = [
        {
            **common,
            "kind": "line",
            "level": line.level,
            "level_index": line.level_index,
            "stroke": strokes[line.level_index],
            "stroke-width": stroke_width,
            "stroke-opacity": 1,
            "title": f"{_fmt(line.level)} {units}",
            "label": level_label(line.level, units),
        }
        for line in lines
    ]
    return band_props, line_props


def _array_geometry(item: Band | Isoline, precision: int | None) -> dict[str, Any]:
    """GeoJSON geometry whose positions are ``(n, 2)`` numpy arrays, one per ring or line."""
    offsets: tuple[Any, ...]
    if isinstance(item, Band):
        coords, rings, polys = band_arrays(item)
        gtype, offsets = GeometryType.MULTIPOLYGON, (rings, polys, None)
    else:
        coords, parts = isoline_arrays(item)
        gtype, offsets = GeometryType.MULTILINESTRING, (parts, None)
    if not np.isfinite(coords).all():
        raise ValueError("Out of range float values are not JSON compliant: NaN in a geometry")
    pts = np.round(coords, precision) if precision is not None else np.ascontiguousarray(coords)
    return _nested(gtype, pts, offsets)


def _check_finite(props: dict[str, Any]) -> None:
    for key, value in props.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"Out of range float values are not JSON compliant: {key}={value}")


def geojson_bytes(
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
) -> bytes:
    """The FeatureCollection of one variable and day (bands first, then lines), as text.

    UTF-8, compact. orjson writes numpy coordinate arrays directly with the shortest
    round-trip repr of each rounded float, so no Python list of the collection's hundreds
    of thousands of positions is ever built (the stdlib ``json`` spends most of its time
    there). NaN is refused (RFC 8259 has none). ``precision`` may be coarser than the
    geometry's.
    """
    band_props, line_props = _properties(
        bands,
        lines,
        levels=levels,
        cmap=cmap,
        variable=variable,
        units=units,
        day=day,
        dataset=dataset,
        fill_opacity=fill_opacity,
        stroke_width=stroke_width,
        extra_properties=extra_properties,
    )
    features = []
    items: list[Band | Isoline] = [*bands, *lines]
    for item, props in zip(items, [*band_props, *line_props], strict=True):
        _check_finite(props)
        geometry = _array_geometry(item, precision)
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    collection = {"type": "FeatureCollection", "features": features}
    return orjson.dumps(collection, option=orjson.OPT_SERIALIZE_NUMPY)


#: Default GeoJSON simplification, as a share of the grid spacing: a tenth of a cell is
#: invisible at the data's own resolution and keeps every band's area within ~0.1%.
WEB_TOLERANCE_CELLS = 0.1
#: Default GeoJSON rounding: the coarsest decimals that keep positions within a
#: fiftieth of a cell (3 decimals, ~100 m, for both 0.25 and 0.1 degree grids).
WEB_PRECISION_CELLS = 0.02


def grid_spacing(latitude: np.ndarray, longitude: np.ndarray) -> float:
    """The finer of the two axes' median steps, in degrees."""
    steps = [
        float(np.median(np.abs(np.diff(np.asarray(a, dtype=float)))))
        for a in (latitude, longitude)
        if len(a) > 1
    ]
    if not steps or min(steps) <= 0:
        raise ValueError("the grid needs two distinct coordinates along some axis")
    return min(steps)


def web_settings(
    latitude: np.ndarray,
    longitude: np.ndarray,
    precision: int | None = None,
    tolerance: float | None = None,
) -> tuple[int, float]:
    """The GeoJSON's ``(precision, simplify tolerance)``, by default from the grid spacing.

    Defaults: the tolerance is :data:`WEB_TOLERANCE_CELLS` of a cell (0.01 degrees on
    ERA5-Land's 0.1 degree grid, 0.025 on ERA5's 0.25), the precision the fewest decimals
    whose step is at most :data:`WEB_PRECISION_CELLS` of a cell (3 for both). Given
    values win.
    """
    spacing = grid_spacing(latitude, longitude)
    if tolerance is None:
        tolerance = WEB_TOLERANCE_CELLS * spacing
    if precision is None:
        precision = min(10, max(0, int(np.ceil(-np.log10(WEB_PRECISION_CELLS * spacing)))))
    return precision, tolerance


def web_geojson(
    bands: Sequence[Band],
    lines: Sequence[Isoline],
    *,
    latitude: np.ndarray,
    longitude: np.ndarray,
    precision: int | None = None,
    tolerance: float | None = None,
    **collection: Any,
) -> bytes:
    """The GeoJSON file of a day: bands and isolines simplified for browsers.

    ``bands`` and ``lines`` are the full-precision ones (the feature rows'); the file
    gets them simplified as a coverage and rounded (:func:`web_settings`), so that a
    global 0.1 degree day stays a few MB. ``collection`` is passed to
    :func:`geojson_bytes` (levels, cmap, variable, units, day, dataset, ...).
    """
    precision, tolerance = web_settings(latitude, longitude, precision, tolerance)
    web_bands, web_lines = simplify_coverage(
        list(bands), list(lines), tolerance=tolerance, precision=precision
    )
    return geojson_bytes(web_bands, web_lines, precision=precision, **collection)

"""Feature rows for the Iceberg table ``contour_features``.

One row per polygon of a band and per line of an isoline level: a band covering a
continent becomes one row per island rather than one huge MultiPolygon, which keeps rows
a sensible size for Athena. WKT is valid and simple (each row is one Polygon or one
LineString), as ``ST_GeometryFromText`` assumes. Areas and lengths are geodesic on WGS84.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from pyproj import Geod

from .contours import Band, Isoline
from .schema import CONTOUR_FEATURES

_GEOD = Geod(ellps="WGS84")


def geodesic_area_km2(polygon: shapely.Polygon) -> float:
    """Area on the WGS84 ellipsoid (holes subtracted), km²."""
    area, _ = _GEOD.geometry_area_perimeter(polygon)
    return abs(area) / 1e6


def geodesic_length_km(line: shapely.LineString) -> float:
    """Length on the WGS84 ellipsoid, km."""
    return _GEOD.geometry_length(line) / 1e3


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
    """Rows of one variable and day, typed by :data:`schema.CONTOUR_FEATURES`."""
    cols: dict[str, list[Any]] = {name: [] for name in CONTOUR_FEATURES.column_names}
    geoms: list[shapely.Geometry] = []

    def add(
        kind: str,
        lower: float | None,
        upper: float | None,
        band_index: int,
        part_index: int,
        geom: shapely.Geometry,
        area: float | None,
        length: float | None,
    ) -> None:
        geoms.append(geom)
        cols["kind"].append(kind)
        cols["level_lower"].append(lower)
        cols["level_upper"].append(upper)
        cols["band_index"].append(band_index)
        cols["part_index"].append(part_index)
        cols["area_km2"].append(area)
        cols["length_km"].append(length)

    for band in bands:
        for j, poly in enumerate(shapely.get_parts(band.geometry)):
            add("band", band.lower, band.upper, band.band_index, j, poly,
                geodesic_area_km2(poly), None)  # fmt: skip
    for line in lines:
        for j, part in enumerate(shapely.get_parts(line.geometry)):
            add("line", line.level, line.level, line.level_index, j, part,
                None, geodesic_length_km(part))  # fmt: skip

    n = len(geoms)
    arr = np.array(geoms, dtype=object)
    bounds = shapely.bounds(arr) if n else np.empty((0, 4))
    if not n:
        cols["geometry_wkt"] = []
    elif precision is None:
        cols["geometry_wkt"] = shapely.to_wkt(arr).tolist()
    else:
        cols["geometry_wkt"] = shapely.to_wkt(arr, rounding_precision=precision, trim=True).tolist()
    cols["bbox_min_lon"] = bounds[:, 0].tolist()
    cols["bbox_min_lat"] = bounds[:, 1].tolist()
    cols["bbox_max_lon"] = bounds[:, 2].tolist()
    cols["bbox_max_lat"] = bounds[:, 3].tolist()
    cols["vertex_count"] = shapely.get_num_coordinates(arr).tolist() if n else []
    cols["day"] = [day] * n
    cols["variable"] = [variable] * n
    cols["units"] = [units] * n
    cols["dataset"] = [dataset] * n
    cols["source_files"] = [list(source_files)] * n
    cols["run_id"] = [run_id] * n
    return pa.Table.from_pydict(cols, schema=CONTOUR_FEATURES.arrow_schema)

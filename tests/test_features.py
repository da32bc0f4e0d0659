"""Feature rows: schema, one simple geometry per row, bbox, geodesic areas and lengths.

Expected areas come from the closed-form area of an ellipsoidal zone (WGS84), not from
pyproj: the area between the equator and latitude phi per radian of longitude is
``b²/2 * (sinφ/(1 - e² sin²φ) + ln((1 + e sinφ)/(1 - e sinφ)) / (2e))``. It bounds cells by
parallels; the geodesic polygon's edge between two corners at the same latitude bulges
slightly poleward (~0.3 km² for a 1x1 degree cell at 1°N), hence the 1 km² tolerance. A
sphere of radius 6371 km would give ~12,364 km² for the equatorial cell, 55 km² off.
"""

from __future__ import annotations

import math
import re
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
import shapely
from shapely import LineString, MultiLineString, MultiPolygon

from era5_contours.inputs.datasets import ERA5
from era5_contours.inputs.samples import load_day
from era5_contours.outputs.features import feature_rows, geodesic_area_km2, geodesic_length_km
from era5_contours.science.contours import Band, Isoline, contour_bands, contour_lines
from era5_contours.science.daily import daily_field
from era5_contours.tables.schema import CONTOUR_FEATURES

A_KM = 6378.137
F = 1 / 298.257223563
B_KM = A_KM * (1 - F)
E = math.sqrt(F * (2 - F))
DAY = date(2020, 7, 15)


def _zone(lat_deg: float) -> float:
    """Ellipsoid area (km²) between the equator and ``lat_deg`` per radian of longitude."""
    s = math.sin(math.radians(lat_deg))
    return B_KM**2 / 2 * (s / (1 - E**2 * s**2) + math.log((1 + E * s) / (1 - E * s)) / (2 * E))


def _cell_area(lon0, lat0, lon1, lat1) -> float:
    return math.radians(lon1 - lon0) * (_zone(lat1) - _zone(lat0))


def _meridian_arc_km(lat0: float, lat1: float) -> float:
    """Integral of the meridional radius of curvature M(φ) = a(1-e²)/(1-e² sin²φ)^1.5."""
    phi = np.linspace(math.radians(lat0), math.radians(lat1), 20001)
    m = A_KM * (1 - E**2) / (1 - E**2 * np.sin(phi) ** 2) ** 1.5
    return float(np.sum((m[1:] + m[:-1]) / 2 * np.diff(phi)))


def test_expected_values_are_what_the_brief_says():
    # the independent references themselves: ~12,308 km² and ~111 km
    assert _cell_area(0, 0, 1, 1) == pytest.approx(12308.5, abs=0.5)
    assert _meridian_arc_km(0, 1) == pytest.approx(110.57, abs=0.01)
    sphere = 6371.0**2 * math.radians(1) * math.sin(math.radians(1))
    assert sphere == pytest.approx(12363.7, abs=0.5)


def test_geodesic_area_of_equatorial_cell():
    assert geodesic_area_km2(shapely.box(0, 0, 1, 1)) == pytest.approx(
        _cell_area(0, 0, 1, 1), abs=1.0
    )
    # orientation does not matter
    cw = shapely.Polygon([(0, 0), (0, 1), (1, 1), (1, 0)])
    assert geodesic_area_km2(cw) == pytest.approx(_cell_area(0, 0, 1, 1), abs=1.0)


def test_geodesic_area_subtracts_holes():
    # edges split every 0.05 degrees so that geodesic edges follow the parallels
    outer = shapely.segmentize(shapely.box(10, 40, 13, 43), 0.05)
    with_hole = outer.difference(shapely.segmentize(shapely.box(11, 41, 12, 42), 0.05))
    assert len(with_hole.interiors) == 1
    expected = _cell_area(10, 40, 13, 43) - _cell_area(11, 41, 12, 42)
    assert geodesic_area_km2(with_hole) == pytest.approx(expected, abs=1.0)
    assert geodesic_area_km2(outer) - geodesic_area_km2(with_hole) == pytest.approx(
        _cell_area(11, 41, 12, 42), abs=1.0
    )


def test_geodesic_length_of_meridian_arc():
    assert geodesic_length_km(LineString([(0, 0), (0, 1)])) == pytest.approx(
        _meridian_arc_km(0, 1), abs=1e-3
    )
    # one degree of the equator: a * pi / 180
    assert geodesic_length_km(LineString([(0, 0), (1, 0)])) == pytest.approx(
        A_KM * math.pi / 180, abs=1e-3
    )


def _hand_made_rows():
    bands = [
        Band(0, None, 0.1, MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(5, 0, 6, 1)])),
        Band(3, 2.0, 5.0, MultiPolygon([shapely.segmentize(shapely.box(10, 40, 13, 43), 0.05)])),
    ]
    lines = [
        Isoline(1, 2.0, MultiLineString([[(0, 0), (0, 1)], [(20, 0), (20.5, 0.5), (21, 0)]])),
    ]
    table = feature_rows(
        bands,
        lines,
        variable="tp",
        units="mm",
        day=DAY,
        dataset="era5",
        source_files=["s3://b/a.nc", "s3://b/b.nc"],
        run_id="run-1",
    )
    return table, bands, lines


def test_rows_schema_and_multipart_split():
    table, *_ = _hand_made_rows()
    assert table.schema.equals(CONTOUR_FEATURES.arrow_schema)
    rows = table.to_pylist()
    assert len(rows) == 5  # 2 + 1 band polygons, 2 line parts
    assert [(r["kind"], r["band_index"], r["part_index"]) for r in rows] == [
        ("band", 0, 0),
        ("band", 0, 1),
        ("band", 3, 0),
        ("line", 1, 0),
        ("line", 1, 1),
    ]
    assert [(r["level_lower"], r["level_upper"]) for r in rows] == [
        (None, 0.1),
        (None, 0.1),
        (2.0, 5.0),
        (2.0, 2.0),
        (2.0, 2.0),
    ]
    for r in rows:
        assert r["day"] == DAY and r["variable"] == "tp" and r["units"] == "mm"
        assert r["dataset"] == "era5" and r["run_id"] == "run-1"
        assert r["source_files"] == ["s3://b/a.nc", "s3://b/b.nc"]


def test_rows_areas_and_lengths():
    table, *_ = _hand_made_rows()
    rows = table.to_pylist()
    assert rows[0]["area_km2"] == pytest.approx(_cell_area(0, 0, 1, 1), abs=1.0)
    assert rows[1]["area_km2"] == pytest.approx(_cell_area(5, 0, 6, 1), abs=1.0)
    assert rows[2]["area_km2"] == pytest.approx(_cell_area(10, 40, 13, 43), abs=1.0)
    assert rows[3]["length_km"] == pytest.approx(_meridian_arc_km(0, 1), abs=1e-3)
    assert rows[4]["length_km"] > 2 * 0.5 * 110.0  # two half-degree diagonals
    for r in rows:
        if r["kind"] == "band":
            assert r["length_km"] is None and r["area_km2"] > 0
        else:
            assert r["area_km2"] is None and r["length_km"] > 0


def test_rows_geometry_and_bbox():
    table, *_ = _hand_made_rows()
    for r in table.to_pylist():
        geom = shapely.from_wkt(r["geometry_wkt"])
        assert geom.geom_type == ("Polygon" if r["kind"] == "band" else "LineString")
        assert geom.is_valid and geom.is_simple
        assert (r["bbox_min_lon"], r["bbox_min_lat"], r["bbox_max_lon"], r["bbox_max_lat"]) == (
            pytest.approx(geom.bounds)
        )
        assert r["vertex_count"] == shapely.get_num_coordinates(geom)
    first = shapely.from_wkt(table.column("geometry_wkt")[0].as_py())
    assert first.equals(shapely.box(0, 0, 1, 1))


def test_empty_input_gives_an_empty_typed_table():
    table = feature_rows(
        [], [], variable="t2m", units="degC", day=DAY, dataset="era5", source_files=[], run_id="r"
    )
    assert table.num_rows == 0
    assert table.schema.equals(CONTOUR_FEATURES.arrow_schema)


@pytest.fixture(scope="module")
def france_rows(era5_file):
    path = era5_file("era5_france_2020-07_hourly_instant_t2m.nc")
    field = daily_field(load_day([path], DAY, ["t2m"]), "t2m", DAY, ERA5).data
    lon, lat, z = field["longitude"].values, field["latitude"].values, field.values
    levels = np.arange(8.0, 28.0, 2.0)
    bands = contour_bands(lon, lat, z, levels)
    lines = contour_lines(lon, lat, z, levels)
    table = feature_rows(
        bands,
        lines,
        variable="t2m",
        units="degC",
        day=DAY,
        dataset="era5",
        source_files=[str(path)],
        run_id="run-2",
    )
    return table, bands, lines, (lon, lat)


def test_real_rows_are_valid_simple_and_typed(france_rows):
    table, bands, lines, _ = france_rows
    assert table.schema.equals(CONTOUR_FEATURES.arrow_schema)
    n_parts = sum(len(b.geometry.geoms) for b in bands) + sum(
        len(ln.geometry.geoms) for ln in lines
    )
    assert table.num_rows == n_parts
    assert any(len(b.geometry.geoms) > 1 for b in bands)  # multipart bands were split
    for field in CONTOUR_FEATURES.arrow_schema:
        if not field.nullable:
            assert table.column(field.name).null_count == 0, field.name
    geoms = shapely.from_wkt(table.column("geometry_wkt").to_numpy(zero_copy_only=False))
    assert shapely.is_valid(geoms).all()
    assert shapely.is_simple(geoms).all()
    assert set(shapely.get_type_id(geoms).tolist()) <= {1, 3}  # LineString, Polygon
    bounds = shapely.bounds(geoms)
    for i, name in enumerate(["bbox_min_lon", "bbox_min_lat", "bbox_max_lon", "bbox_max_lat"]):
        np.testing.assert_allclose(table.column(name).to_numpy(), bounds[:, i], atol=1e-9)
    kind = np.array(table.column("kind").to_pylist())
    area = table.column("area_km2")
    length = table.column("length_km")
    assert pa.compute.all(pa.compute.is_null(area.filter(pa.array(kind == "line")))).as_py()
    assert pa.compute.all(pa.compute.is_null(length.filter(pa.array(kind == "band")))).as_py()


def test_real_band_areas_cover_the_grid(france_rows):
    table, _, _, (lon, lat) = france_rows
    bands = table.filter(pa.compute.equal(table.column("kind"), "band"))
    total = sum(bands.column("area_km2").to_pylist())
    # The bands tile the grid rectangle; its boundary has a vertex at every grid point,
    # so geodesic and parallel-bounded areas agree closely.
    expected = _cell_area(lon.min(), lat.min(), lon.max(), lat.max())
    assert total == pytest.approx(expected, rel=1e-4)


def test_vectorised_areas_and_lengths_match_pyproj_geodesics_on_a_global_field():
    """Every polygon's area and line's length against pyproj's geodesic, one by one."""
    from pyproj import Geod

    from era5_contours.outputs.features import line_lengths_km, polygon_areas_km2

    geod = Geod(ellps="WGS84")
    lat = np.linspace(-90.0, 90.0, 181)
    lon = np.arange(360) - 180.0
    rlat, rlon = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    z = 30 * np.cos(rlat) + (6 * np.sin(5 * rlon) * np.cos(3 * rlat) + np.sin(17 * rlon)) * np.cos(
        rlat
    )
    levels = np.linspace(-5.0, 30.0, 15)
    polys = np.concatenate(
        [shapely.get_parts(b.geometry) for b in contour_bands(lon, lat, z, levels)]
    )
    parts = np.concatenate(
        [shapely.get_parts(x.geometry) for x in contour_lines(lon, lat, z, levels)]
    )
    assert polys.size > 15 and parts.size > 15
    # The polygons' edges are straight in lon/lat: densified, pyproj's geodesics follow
    # them (to ~2e-7 at 0.01 degree steps). Polygons holding a pole have edges along the
    # pole itself, which geodesics cannot follow, and a ring around the globe is
    # ambiguous to pyproj (it gives the complement); the total below covers both.
    bounds = shapely.bounds(polys)
    polar = (np.abs(bounds[:, [1, 3]]).max(axis=1) >= 90.0) | (bounds[:, 2] - bounds[:, 0] >= 359)
    assert (~polar).sum() > 10
    dense = shapely.segmentize(polys[~polar], 0.01)
    expected = np.array([abs(geod.geometry_area_perimeter(p)[0]) / 1e6 for p in dense])
    np.testing.assert_allclose(polygon_areas_km2(polys[~polar]), expected, rtol=1e-6)
    total = polygon_areas_km2(polys).sum()
    assert total == pytest.approx(4 * math.pi * 6371.0072**2, rel=1e-4)  # the whole Earth
    lengths = np.array([geod.geometry_length(g) / 1e3 for g in shapely.segmentize(parts, 0.01)])
    np.testing.assert_allclose(line_lengths_km(parts), lengths, rtol=1e-6)


def test_equal_area_y_is_procs_cea():
    from pyproj import Transformer

    from era5_contours.outputs.features import _authalic_y

    lat = np.linspace(-90.0, 90.0, 721)
    cea = Transformer.from_crs("EPSG:4326", "+proj=cea +ellps=WGS84", always_xy=True)
    _, y = cea.transform(np.zeros_like(lat), lat)
    np.testing.assert_allclose(_authalic_y(lat), y, rtol=1e-12, atol=1e-6)


def test_wkt_has_the_precision_whether_or_not_the_geometry_was_rounded():
    x = np.linspace(0.0, 10.0, 41)
    y = np.linspace(40.0, 48.0, 33)
    z = np.sin(x[None, :]) * np.cos(y[:, None] / 2) * 10
    kwargs = dict(variable="t2m", units="degC", day=DAY, dataset="era5", source_files=["a"],
                  run_id="r", precision=4)  # fmt: skip
    rounded = contour_bands(x, y, z, [-2.0, 2.0], precision=4)
    table = feature_rows(rounded, [], **kwargs)
    geoms = np.concatenate([shapely.get_parts(b.geometry) for b in rounded])
    # GEOS's own rounding writer gives the same text for the rounded geometries
    expected = shapely.to_wkt(geoms, rounding_precision=4, trim=True).tolist()
    assert table.column("geometry_wkt").to_pylist() == expected
    raw = contour_bands(x, y, z, [-2.0, 2.0], precision=None)
    text = " ".join(feature_rows(raw, [], **kwargs).column("geometry_wkt").to_pylist())
    decimals = [len(d) for d in re.findall(r"\d\.(\d+)", text)]
    assert decimals and max(decimals) == 4


def test_rows_and_geojson_are_the_same_from_kept_arrays_or_from_the_geometries(france_rows):
    """Bands keep their coordinate arrays for the writers; without them, GEOS gives the
    same coordinates, so both paths must write the very same rows and GeoJSON."""
    import dataclasses

    from era5_contours.outputs.geojson import geojson_bytes

    _, bands, lines, _ = france_rows
    assert all(b.arrays is not None for b in bands) and all(ln.arrays is not None for ln in lines)
    bare_bands = [dataclasses.replace(b, arrays=None) for b in bands]
    bare_lines = [dataclasses.replace(ln, arrays=None) for ln in lines]
    kw = dict(variable="t2m", units="degC", day=DAY, dataset="era5", source_files=["f"], run_id="r")
    assert feature_rows(bands, lines, **kw).equals(feature_rows(bare_bands, bare_lines, **kw))
    gj = dict(levels=np.arange(8.0, 28.0, 2.0), cmap="RdYlBu_r", variable="t2m", units="degC",
              day=DAY, dataset="era5")  # fmt: skip
    assert geojson_bytes(bands, lines, **gj) == geojson_bytes(bare_bands, bare_lines, **gj)

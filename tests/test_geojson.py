from __future__ import annotations

import itertools
import json
import math
import re
from datetime import date

import numpy as np
import pytest
import shapely
from shapely import LinearRing, MultiLineString, MultiPolygon, Point, Polygon

from era5_contours.outputs.geojson import band_title, geojson_bytes, geometry_to_geojson
from era5_contours.science.contours import Band, contour_bands, contour_lines

HEX = re.compile(r"^#[0-9a-f]{6}$")
DAY = date(2021, 3, 1)


def _field():
    """A ring with a hole, an island inside it, a second peak: holes and multipart bands."""
    x = np.linspace(-10.0, 10.0, 41)
    y = np.linspace(40.0, 50.0, 21)
    xx, yy = np.meshgrid(x, y)
    r = np.hypot(xx + 4, (yy - 45) * 1.5)
    z = 10 * np.exp(-((r - 3) ** 2)) + 6 * np.exp(-((xx - 6) ** 2 + (yy - 45) ** 2) / 2)
    return x, y, z


@pytest.fixture
def collection():
    x, y, z = _field()
    levels = np.array([2.0, 5.0, 8.0])
    bands = contour_bands(x, y, z, levels)
    lines = contour_lines(x, y, z, levels)
    text = geojson_bytes(
        bands,
        lines,
        levels=levels,
        cmap="viridis",
        variable="t2m",
        units="degC",
        day=DAY,
        dataset="era5",
        extra_properties={"run_id": "r1"},
    )
    return json.loads(text), bands, lines, levels


def _rings(geometry: dict):
    if geometry["type"] == "MultiPolygon":
        yield from geometry["coordinates"]
    elif geometry["type"] == "Polygon":
        yield geometry["coordinates"]


def test_feature_collection_structure(collection):
    fc, bands, lines, _ = collection
    assert fc["type"] == "FeatureCollection"
    assert "crs" not in fc  # RFC 7946 removed it: WGS84 lon/lat is implied
    kinds = [f["properties"]["kind"] for f in fc["features"]]
    assert kinds == ["band"] * len(bands) + ["line"] * len(lines)
    assert len(bands) == 4 and len(lines) == 3
    for f in fc["features"]:
        assert f["type"] == "Feature"
        assert set(f) == {"type", "geometry", "properties"}
        expected = "MultiPolygon" if f["properties"]["kind"] == "band" else "MultiLineString"
        assert f["geometry"]["type"] == expected


def test_geometries_valid_and_right_hand_rule(collection):
    fc, *_ = collection
    holes = 0
    for f in fc["features"]:
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.is_valid, shapely.is_valid_reason(geom)
        assert not geom.is_empty
        for poly in _rings(f["geometry"]):
            exterior, *interiors = poly
            assert exterior[0] == exterior[-1] and len(exterior) >= 4
            assert LinearRing(exterior).is_ccw
            for hole in interiors:
                holes += 1
                assert hole[0] == hole[-1] and len(hole) >= 4
                assert not LinearRing(hole).is_ccw
    assert holes >= 2  # the field really has holes to check


def test_coordinates_within_bounds_and_rounded(collection):
    fc, *_ = collection
    coords = np.array(
        [
            pos
            for f in fc["features"]
            for pos in shapely.get_coordinates(shapely.geometry.shape(f["geometry"]))
        ]
    )
    assert coords.shape[1] == 2
    assert np.all((coords[:, 0] >= -180) & (coords[:, 0] <= 180))
    assert np.all((coords[:, 1] >= -90) & (coords[:, 1] <= 90))
    assert np.all((coords[:, 0] >= -10) & (coords[:, 0] <= 10))  # inside the grid
    # positions are [lon, lat] with at most 4 decimals in the JSON text
    decimals = [
        len(d)
        for f in fc["features"]
        for d in re.findall(r"\d\.(\d+)", json.dumps(f["geometry"]["coordinates"]))
    ]
    assert decimals and max(decimals) <= 4


def test_band_properties(collection):
    fc, *_ = collection
    band_features = [f for f in fc["features"] if f["properties"]["kind"] == "band"]
    expected = [(0, None, 2.0), (1, 2.0, 5.0), (2, 5.0, 8.0), (3, 8.0, None)]
    got = [
        (p["band_index"], p["level_lower"], p["level_upper"])
        for p in (f["properties"] for f in band_features)
    ]
    assert got == expected
    titles = [f["properties"]["title"] for f in band_features]
    assert titles == ["<2.00 degC", "2.00-5.00 degC", "5.00-8.00 degC", ">8.00 degC"]
    fills = [f["properties"]["fill"] for f in band_features]
    assert all(HEX.match(c) for c in fills) and len(set(fills)) == 4
    for f in band_features:
        p = f["properties"]
        assert p["variable"] == "t2m" and p["units"] == "degC" and p["day"] == "2021-03-01"
        assert p["dataset"] == "era5" and p["run_id"] == "r1"
        assert p["stroke"] == p["fill"]
        assert p["fill-opacity"] == 0.9 and p["stroke-width"] == 1.0
        assert p["stroke-opacity"] == 1


def test_line_properties(collection):
    fc, *_ = collection
    lines = [f["properties"] for f in fc["features"] if f["properties"]["kind"] == "line"]
    assert [(p["level"], p["level_index"]) for p in lines] == [(2.0, 0), (5.0, 1), (8.0, 2)]
    assert [p["title"] for p in lines] == ["2.00 degC", "5.00 degC", "8.00 degC"]
    for p in lines:
        assert HEX.match(p["stroke"]) and p["stroke-width"] == 1.0
        assert "level_lower" not in p and "fill" not in p
        assert p["variable"] == "t2m" and p["day"] == "2021-03-01"


def test_compact_text():
    x, y, z = _field()
    levels = np.array([2.0, 5.0, 8.0])
    text = geojson_bytes(
        contour_bands(x, y, z, levels), [], levels=levels, cmap="viridis", variable="t2m",
        units="degC", day=DAY, dataset="era5",
    ).decode()  # fmt: skip
    # Compact separators: no space outside the strings.
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    assert " " not in outside
    assert json.loads(text)["type"] == "FeatureCollection"


def test_geometry_matches_the_band(collection):
    fc, bands, *_ = collection
    for f, band in zip(fc["features"], bands, strict=False):
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.symmetric_difference(band.geometry).area < 1e-6


def test_nan_refused():
    # RFC 8259 has no NaN: a NaN property or coordinate fails rather than writing "NaN".
    kwargs = dict(
        levels=np.array([1.0]), cmap="viridis", variable="tp", units="mm", day=DAY,
        dataset="era5",
    )  # fmt: skip
    band = Band(0, None, math.nan, MultiPolygon([shapely.box(0, 0, 1, 1)]))
    with pytest.raises(ValueError):
        geojson_bytes([band], [], **kwargs)
    with np.errstate(invalid="ignore"):  # shapely's own warning about the NaN
        nan_corner = Polygon([(0, 0), (1, 0), (1, math.nan), (0, 0)])
    with pytest.raises(ValueError):
        geojson_bytes([Band(0, None, 1.0, MultiPolygon([nan_corner]))], [], **kwargs)


def test_geometry_types_and_precision():
    poly = Polygon([(0, 0), (1.123456, 0), (1, 1)])
    assert geometry_to_geojson(poly, 2) == {
        "type": "Polygon",
        "coordinates": [[[0.0, 0.0], [1.12, 0.0], [1.0, 1.0], [0.0, 0.0]]],
    }
    line = shapely.LineString([(0, 0), (0.5555, 1)])
    assert geometry_to_geojson(line, 3) == {
        "type": "LineString",
        "coordinates": [[0.0, 0.0], [0.556, 1.0]],
    }
    mls = MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 3)]])
    assert geometry_to_geojson(mls, None)["coordinates"] == [
        [[0.0, 0.0], [1.0, 1.0]],
        [[2.0, 2.0], [3.0, 3.0]],
    ]
    with pytest.raises(TypeError):
        geometry_to_geojson(Point(0, 0), 4)


def test_band_title():
    square = MultiPolygon([shapely.box(0, 0, 1, 1)])
    assert band_title(Band(0, None, 0.1, square), "mm") == "<0.10 mm"
    assert band_title(Band(1, 0.1, 1.0, square), "mm") == "0.10-1.00 mm"
    assert band_title(Band(8, 100.0, None, square), "mm") == ">100.00 mm"


def test_global_collection_stays_in_bounds():
    lat = np.linspace(-90.0, 90.0, 91)
    lon = np.arange(-180.0, 180.0, 2.0)
    z = 30 * np.cos(np.deg2rad(lat))[:, None] + np.sin(np.deg2rad(lon))[None, :]
    levels = np.array([0.0, 10.0, 20.0])
    bands = contour_bands(lon, lat, z, levels)
    fc = json.loads(
        geojson_bytes(
            bands, [], levels=levels, cmap="viridis", variable="t2m", units="degC", day=DAY,
            dataset="era5",
        )
    )  # fmt: skip
    coords = np.concatenate(
        [shapely.get_coordinates(shapely.geometry.shape(f["geometry"])) for f in fc["features"]]
    )
    assert coords[:, 0].min() == -180.0 and coords[:, 0].max() == 180.0
    assert coords[:, 1].min() == -90.0 and coords[:, 1].max() == 90.0
    assert all(shapely.geometry.shape(f["geometry"]).is_valid for f in fc["features"])


def _raw_band_areas(x, y, z, levels) -> dict[int, float]:
    """Planar area of each band straight from contourpy (independent of the library)."""
    import contourpy

    gen = contourpy.contour_generator(
        x, y, z, name="serial", fill_type=contourpy.FillType.OuterOffset
    )
    edges = [-np.inf, *levels, np.inf]
    out = {}
    for i in range(len(edges) - 1):
        points, offsets = gen.filled(edges[i], edges[i + 1])
        area = 0.0
        for pts, off in zip(points, offsets, strict=True):
            for a, b in itertools.pairwise(off):
                ring = pts[a:b]
                area += 0.5 * np.sum(ring[:-1, 0] * ring[1:, 1] - ring[1:, 0] * ring[:-1, 1])
        if area:
            out[i] = area
    return out


def test_web_geojson_defaults_follow_the_grid_and_keep_band_areas():
    from era5_contours.outputs.geojson import web_geojson, web_settings

    x = np.round(np.arange(0.0, 20.0, 0.1), 4)
    y = np.round(np.arange(40.0, 52.0, 0.1), 4)
    xx, yy = np.meshgrid(x, y)
    rng = np.random.default_rng(3)
    z = 10 * np.sin(xx / 1.7) * np.cos(yy / 1.3) + 6 * np.sin(xx * 3.1 + yy * 2.3)
    z += rng.normal(0, 0.4, z.shape)  # small blobs, the kind simplification shrinks
    levels = np.array([-8.0, -4.0, 0.0, 4.0, 8.0, 12.0])
    assert web_settings(y, x) == (3, pytest.approx(0.01))
    assert web_settings(np.arange(0, 10, 0.25), np.arange(0, 10, 0.25)) == (3, 0.025)
    assert web_settings(y, x, precision=5, tolerance=0.0) == (5, 0.0)

    bands, lines = contour_bands(x, y, z, levels), contour_lines(x, y, z, levels)
    kwargs = dict(levels=levels, cmap="viridis", variable="t2m", units="degC", day=DAY,
                  dataset="era5")  # fmt: skip
    full = geojson_bytes(bands, lines, **kwargs)
    web = web_geojson(bands, lines, latitude=y, longitude=x, **kwargs)
    assert len(web) < 0.7 * len(full)
    fc = json.loads(web)
    decimals = [len(d) for d in re.findall(r"\d\.(\d+)", web.decode())]
    assert max(decimals) <= 3
    geoms = {
        f["properties"]["band_index"]: shapely.geometry.shape(f["geometry"])
        for f in fc["features"]
        if f["properties"]["kind"] == "band"
    }
    raw = _raw_band_areas(x, y, z, levels)
    assert sorted(geoms) == sorted(raw)
    for i, geom in geoms.items():
        assert geom.is_valid, shapely.is_valid_reason(geom)
        assert geom.area == pytest.approx(raw[i], rel=5e-3), i
    # Simplified as a coverage: still a partition of the grid, no gaps, no overlaps.
    rect = (x[-1] - x[0]) * (y[-1] - y[0])
    assert sum(g.area for g in geoms.values()) == pytest.approx(rect, rel=1e-6)
    assert shapely.union_all(list(geoms.values())).area == pytest.approx(rect, rel=1e-6)
    lines_fc = [f for f in fc["features"] if f["properties"]["kind"] == "line"]
    assert lines_fc and all(shapely.geometry.shape(f["geometry"]).is_valid for f in lines_fc)


# --- every ring of the web file ----------------------------------------------------------


def _ring_faults(text: bytes, precision: int) -> list[str]:
    """Every ring of every band against RFC 7946 and the grid, held with shapely alone.

    Each ring is closed, of 4 positions or more, wound by the right-hand rule (exteriors
    counter-clockwise, holes clockwise: shapely's ``is_ccw``, GEOS's robust orientation)
    and has an area (shapely's) of at least half a cell of the file's precision grid: the
    least area a polygon with its vertices on that grid can have, unless it has none
    (Pick's theorem). Also checks that the positions are on that grid.
    """
    q = 10.0**-precision
    faults, rings, where, exterior = [], [], [], []
    for feature in json.loads(text)["features"]:
        geometry, props = feature["geometry"], feature["properties"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else []
        for p, polygon in enumerate(polygons):
            for k, ring in enumerate(polygon):
                label = f"band {props['band_index']} polygon {p} ring {k} at {ring[0]}"
                if len(ring) < 4 or ring[0] != ring[-1]:
                    faults.append(f"{label}: {len(ring)} positions, open or too few")
                    continue
                rings.append(np.array(ring, dtype=float))
                where.append(label)
                exterior.append(k == 0)
    if not rings:
        return faults
    coords = np.concatenate(rings)
    index = np.repeat(np.arange(len(rings)), [len(r) for r in rings])
    off_grid = np.bincount(index, weights=(np.round(coords, precision) != coords).any(axis=1))
    linear = shapely.linearrings(coords, indices=index)
    wrong_way = shapely.is_ccw(linear) != np.array(exterior)
    area = shapely.area(shapely.polygons(linear))
    small = ~(area >= 0.5 * q * q * (1 - 1e-6))
    for i in np.flatnonzero((off_grid > 0) | wrong_way | small):
        distinct = len(np.unique(rings[i], axis=0))
        faults.append(
            f"{where[i]}: {'exterior' if exterior[i] else 'hole'} ccw={exterior[i] != wrong_way[i]}"
            f", area {area[i]:.3g} ({distinct} distinct positions)"
            + (f", off the {q:g} grid" if off_grid[i] else "")
        )
    return faults


def _drizzle_field():
    """Isolated grid points a few hundredths above a level, among NaN cells (0.1 degree).

    Their islands are a few thousandths of a degree across: coverage simplification makes
    triangles of them, and at the file's 3 decimals some become three points on one
    diagonal line, a sliver GEOS finds valid in the decimal floats (found by search).
    """
    rng = np.random.default_rng(3)
    ny, nx = 60, 90
    x = np.round(np.arange(nx) * 0.1 + 10.0, 4)
    y = np.round(np.arange(ny) * 0.1 + 40.0, 4)
    z = rng.normal(0, 1, (ny, nx))
    islands = rng.random((ny, nx)) < 0.15
    z = np.where(islands, 1.0 + rng.exponential(0.02, (ny, nx)), np.minimum(z, 0.9))
    z[rng.random((ny, nx)) < 0.05] = np.nan
    return x, y, z, np.array([0.0, 1.0, 2.0])


def _noisy_field():
    """test_web_geojson_defaults_follow_the_grid_and_keep_band_areas' field: small blobs."""
    x = np.round(np.arange(0.0, 20.0, 0.1), 4)
    y = np.round(np.arange(40.0, 52.0, 0.1), 4)
    xx, yy = np.meshgrid(x, y)
    z = 10 * np.sin(xx / 1.7) * np.cos(yy / 1.3) + 6 * np.sin(xx * 3.1 + yy * 2.3)
    z += np.random.default_rng(3).normal(0, 0.4, z.shape)
    return x, y, z, np.array([-8.0, -4.0, 0.0, 4.0, 8.0, 12.0])


def _global_field():
    """A global 1 degree field with sea cells NaN and grid-scale noise: every kind of ring."""
    lat = np.linspace(-90.0, 90.0, 181)
    lon = np.arange(360) - 180.0
    rlat, rlon = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    rng = np.random.default_rng(8)
    z = (
        30 * np.cos(rlat)
        + 6 * np.sin(5 * rlon) * np.cos(3 * rlat)
        + rng.normal(0, 1.5, z_shape := (181, 360))
    )
    z[(np.sin(2 * rlon) * np.cos(4 * rlat) + 0.3 * rng.normal(size=z_shape)) > 0.8] = np.nan
    return lon, lat, z, np.arange(-10.0, 31.0, 2.5)


def _france_day(era5_file, variable):
    """The real 2020-07-01 over France, read with xarray alone: mean t2m, total tp."""
    import xarray as xr

    name = {"t2m": "instant_t2m", "tp": "accum_tp"}[variable]
    with xr.open_dataset(era5_file(f"era5_france_2020-07_hourly_{name}.nc")) as ds:
        if variable == "t2m":
            hours = ds["t2m"].sel(valid_time=slice("2020-07-01T00", "2020-07-01T23"))
            data = hours.mean("valid_time") - 273.15
            levels = np.arange(10.0, 32.0, 1.0)
        else:  # ERA5's hourly tp: the hours ending 01 to 24 UTC, in mm
            hours = ds["tp"].sel(valid_time=slice("2020-07-01T01", "2020-07-02T00"))
            data = hours.sum("valid_time") * 1000.0
            levels = np.array([0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0])
        return data["longitude"].values, data["latitude"].values, data.values, levels


def _web_file(x, y, z, levels):
    from era5_contours.outputs.geojson import web_geojson, web_settings

    bands, lines = contour_bands(x, y, z, levels), contour_lines(x, y, z, levels)
    text = web_geojson(bands, lines, latitude=y, longitude=x, levels=levels, cmap="viridis",
                       variable="tp", units="mm", day=DAY, dataset="era5")  # fmt: skip
    return text, web_settings(y, x)[0], bands


def _assert_bands_tile(text, bands):
    """No two polygons of the file overlap, and the bands cover what the full ones do."""
    parts = np.concatenate(
        [
            shapely.get_parts(shapely.geometry.shape(f["geometry"]))
            for f in json.loads(text)["features"]
            if f["properties"]["kind"] == "band"
        ]
    )
    assert shapely.is_valid(parts).all()
    a, b = shapely.STRtree(parts).query(parts)
    a, b = a[a < b], b[a < b]
    shapely.prepare(parts)
    assert not shapely.overlaps(parts[a], parts[b]).any()
    total = shapely.area(parts).sum()
    full = sum(b.geometry.area for b in bands)
    assert total == pytest.approx(full, rel=5e-3)  # no gaps beyond the simplification


@pytest.mark.parametrize(
    "make", [_field, _noisy_field, _drizzle_field, _global_field], ids=lambda f: f.__name__
)
def test_every_web_ring_keeps_the_right_hand_rule_and_an_area(make):
    field = make()
    if make is _field:  # a tuple of three: add its levels
        field = (*field, np.array([2.0, 5.0, 8.0]))
    text, precision, bands = _web_file(*field)
    assert _ring_faults(text, precision) == []
    _assert_bands_tile(text, bands)


@pytest.mark.parametrize("variable", ["t2m", "tp"])
def test_every_web_ring_of_a_real_day_keeps_the_right_hand_rule_and_an_area(era5_file, variable):
    text, precision, bands = _web_file(*_france_day(era5_file, variable))
    assert precision == 3
    assert _ring_faults(text, precision) == []
    _assert_bands_tile(text, bands)


def test_the_drizzle_field_does_make_flat_slivers_at_the_files_precision():
    """The trap of the test above is real: the coverage simplification of the field's
    bands (the web file's, as GEOS's does too), rounded to 3 decimals, has rings of
    three distinct points on one line."""
    from era5_contours.science.contours import band_arrays
    from era5_contours.science.coverage import simplify_bands

    x, y, z, levels = _drizzle_field()
    bands = contour_bands(x, y, z, levels)
    for simplified in (
        shapely.coverage_simplify([b.geometry for b in bands], 0.01, simplify_boundary=True),
        [
            shapely.from_ragged_array(shapely.GeometryType.POLYGON, p, (r, q))
            for p, r, q in simplify_bands([band_arrays(b) for b in bands], 0.01)
        ],
    ):
        assert _flat_rings(simplified) >= 1


def _flat_rings(geoms) -> int:
    """Rings of three distinct points on one line once rounded to 3 decimals."""
    flat = 0
    for ring in shapely.get_rings(
        shapely.get_parts(np.concatenate([np.atleast_1d(g) for g in geoms]))
    ):
        lattice = np.rint(np.round(shapely.get_coordinates(ring), 3) * 1e3)
        distinct = np.unique(lattice, axis=0)
        if len(distinct) == 3:
            (a, b, c) = distinct
            flat += (b - a)[0] * (c - a)[1] - (b - a)[1] * (c - a)[0] == 0
    return int(flat)


def test_web_geojson_is_rfc7946_by_an_independent_schema(era5_file):
    schema = pytest.importorskip("geojson_pydantic")
    for field in [_drizzle_field(), _global_field(), _france_day(era5_file, "tp")]:
        text, _, _ = _web_file(*field)
        collection = schema.FeatureCollection.model_validate_json(text)
        assert collection.type == "FeatureCollection" and len(collection.features) > 3
        for feature in collection.features:
            assert feature.geometry.type in ("MultiPolygon", "MultiLineString")

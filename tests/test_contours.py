"""Bands and isolines on hand-built grids with known answers, and against geojsoncontour.

Grids use unit spacing unless stated, so planar areas are counted in grid cells.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import date

import contourpy
import numpy as np
import pytest
import shapely
from shapely import LinearRing, Point

from era5_contours.inputs.samples import load_day
from era5_contours.science.contours import close_longitude, contour_bands, contour_lines
from era5_contours.science.daily import daily_field

X7 = np.arange(7.0)
Y7 = np.arange(7.0)


def _ring_field() -> np.ndarray:
    """7x7: 10 on the square annulus at Chebyshev distance 2 from the centre, else 0."""
    i, j = np.indices((7, 7))
    return np.where(np.maximum(abs(i - 3), abs(j - 3)) == 2, 10.0, 0.0)


def _by_index(bands):
    return {b.band_index: b for b in bands}


def _union(bands):
    return shapely.union_all([b.geometry for b in bands])


def _smooth_field(nx=40, ny=30):
    x = np.linspace(-10.0, 10.0, nx)
    y = np.linspace(30.0, 45.0, ny)
    xx, yy = np.meshgrid(x, y)
    z = 8 * np.sin(xx / 2.1) * np.cos((yy - 30) / 2.7) + 0.4 * xx + 0.1 * (yy - 30) ** 1.5
    return x, y, z


def _assert_partition(bands, rect_area, *, tol):
    areas = [b.geometry.area for b in bands]
    assert sum(areas) == pytest.approx(rect_area, abs=tol)
    assert _union(bands).area == pytest.approx(rect_area, abs=tol)
    for a, b in itertools.combinations(bands, 2):
        assert a.geometry.intersection(b.geometry).area == pytest.approx(0.0, abs=tol)


# --- topology on tiny grids --------------------------------------------------------------


def test_ring_with_hole_is_one_polygon_with_one_hole_right_hand_rule():
    bands = _by_index(contour_bands(X7, Y7, _ring_field(), [5.0]))
    assert sorted(bands) == [0, 1]
    high = bands[1].geometry
    assert len(high.geoms) == 1
    poly = high.geoms[0]
    assert len(poly.interiors) == 1
    assert LinearRing(poly.exterior.coords).is_ccw
    assert not LinearRing(poly.interiors[0].coords).is_ccw
    # the hole holds the centre; the annulus holds the ring's grid points
    assert not high.covers(Point(3, 3))
    assert high.contains(Point(1, 3)) and high.contains(Point(5, 5))
    # annulus between the 0.5-offset squares: outer [0.5, 5.5]^2 less its corners, inner
    # [1.5, 4.5]^2 less its corners (linear interpolation halfway between 0 and 10)
    assert poly.exterior.bounds == (0.5, 0.5, 5.5, 5.5)
    assert poly.interiors[0].bounds == (1.5, 1.5, 4.5, 4.5)

    low = bands[0].geometry  # the frame around the ring and the island in the middle
    assert len(low.geoms) == 2
    assert sorted(len(p.interiors) for p in low.geoms) == [0, 1]
    assert low.contains(Point(3, 3)) and low.contains(Point(0.2, 0.2))
    for p in low.geoms:
        assert LinearRing(p.exterior.coords).is_ccw
        assert all(not LinearRing(r.coords).is_ccw for r in p.interiors)


def test_two_islands_make_a_two_part_multipolygon():
    x = np.arange(11.0)
    y = np.arange(7.0)
    xx, yy = np.meshgrid(x, y)
    z = np.exp(-((xx - 2) ** 2 + (yy - 3) ** 2)) + np.exp(-((xx - 8) ** 2 + (yy - 3) ** 2))
    bands = _by_index(contour_bands(x, y, z, [0.5]))
    top = bands[1].geometry
    assert len(top.geoms) == 2
    parts = sorted(top.geoms, key=lambda p: p.centroid.x)
    assert parts[0].contains(Point(2, 3)) and parts[1].contains(Point(8, 3))
    assert not top.intersects(Point(5, 3))


def test_bands_open_at_both_ends():
    z = np.add.outer(np.arange(4.0), np.arange(4.0))  # 0..6
    bands = contour_bands(np.arange(4.0), np.arange(4.0), z, [2.0, 4.0])
    assert [(b.band_index, b.lower, b.upper) for b in bands] == [
        (0, None, 2.0),
        (1, 2.0, 4.0),
        (2, 4.0, None),
    ]
    # by symmetry of x + y: the triangles below 2 and above 4 have area 2 each
    assert bands[0].geometry.area == pytest.approx(2.0)
    assert bands[2].geometry.area == pytest.approx(2.0)
    assert bands[1].geometry.area == pytest.approx(9.0 - 4.0)


def test_empty_bands_are_left_out_and_keep_their_index():
    z = np.add.outer(np.arange(4.0), np.arange(4.0))  # 0..6
    bands = contour_bands(np.arange(4.0), np.arange(4.0), z, [-5.0, -1.0, 3.0, 100.0])
    # nothing <= -5 nor in (-5, -1] nor > 100
    assert [(b.band_index, b.lower, b.upper) for b in bands] == [(2, -1.0, 3.0), (3, 3.0, 100.0)]


def test_nan_cell_is_excluded():
    z = np.add.outer(np.arange(7.0), np.arange(7.0))
    z[3, 3] = np.nan
    bands = contour_bands(X7, Y7, z, [3.0, 6.0, 9.0])
    union = _union(bands)
    assert not union.covers(Point(3, 3))
    assert union.covers(Point(1, 1))
    assert union.area < 36.0
    # corner masking: each of the 4 cells around the NaN point keeps the triangle of its
    # three valid corners, so exactly 4 half-cells are lost
    assert union.area == pytest.approx(36.0 - 2.0)
    assert all(shapely.is_valid(b.geometry) for b in bands)


def test_all_nan_field_is_refused():
    with pytest.raises(ValueError, match="no finite value"):
        contour_bands(X7, Y7, np.full((7, 7), np.nan), [1.0])


@pytest.mark.parametrize("precision", [None, 4])
def test_bands_partition_the_grid(precision):
    x, y, z = _smooth_field()
    levels = np.arange(-6.0, 12.0, 1.5)
    bands = contour_bands(x, y, z, levels, precision=precision)
    assert len(bands) == len(levels) + 1  # the field spans every band
    rect = (x[-1] - x[0]) * (y[-1] - y[0])
    _assert_partition(bands, rect, tol=1e-9 if precision is None else 1e-4)
    grid = shapely.box(x[0], y[0], x[-1], y[-1])
    assert _union(bands).symmetric_difference(grid).area == pytest.approx(0.0, abs=1e-4)


def test_band_semantics_lower_exclusive_upper_inclusive():
    # columns: 0 0 5 5 5 10 10; a plateau exactly at the level 5
    z = np.tile(np.array([0.0, 0.0, 5.0, 5.0, 5.0, 10.0, 10.0]), (7, 1))
    bands = _by_index(contour_bands(X7, Y7, z, [5.0]))
    # v <= 5 holds the plateau (x in [0, 4]); v > 5 only x in (4, 6]
    assert bands[0].geometry.area == pytest.approx(4.0 * 6.0)
    assert bands[1].geometry.area == pytest.approx(2.0 * 6.0)
    assert bands[0].geometry.contains(Point(3, 3))
    assert not bands[1].geometry.intersects(Point(3, 3))
    assert bands[1].geometry.bounds == (4.0, 0.0, 6.0, 6.0)


def test_grid_point_exactly_at_a_level_is_in_the_band_below():
    # A single peak exactly at 5 with level 5: nothing is > 5, so there is no band 1
    z = np.zeros((7, 7))
    z[3, 3] = 5.0
    bands = contour_bands(X7, Y7, z, [5.0])
    assert [b.band_index for b in bands] == [0]
    assert bands[0].geometry.covers(Point(3, 3))


def test_saddle_and_self_touching_rings_are_valid():
    # Values exactly at the level make contourpy emit self-touching rings (invalid OGC)
    z = np.array([[2, 1, 1, 0], [0, 0, 0, 0], [0, 2, 1, 2], [1, 1, 2, 2]], dtype=float)
    x = y = np.arange(4.0)
    raw = contourpy.contour_generator(
        x, y, z, name="serial", fill_type=contourpy.FillType.OuterCode
    ).filled(-np.inf, 0.0)
    raw_polys = [shapely.Polygon(p) for p in raw[0]]
    assert not all(p.is_valid for p in raw_polys)  # the trap is real
    bands = contour_bands(x, y, z, [0.0, 1.0])
    assert all(shapely.is_valid(b.geometry) for b in bands)
    _assert_partition(bands, 9.0, tol=1e-9)

    # classic saddles: a checkerboard
    z = (np.add.outer(np.arange(6), np.arange(6)) % 2).astype(float)
    bands = contour_bands(np.arange(6.0), np.arange(6.0), z, [0.25, 0.5, 0.75])
    assert all(shapely.is_valid(b.geometry) for b in bands)
    _assert_partition(bands, 25.0, tol=1e-9)


def test_random_integer_fields_are_always_valid_partitions():
    rng = np.random.default_rng(7)
    x = y = np.arange(6.0)
    for _ in range(25):
        z = rng.integers(0, 4, size=(6, 6)).astype(float)
        bands = contour_bands(x, y, z, [0.0, 1.0, 2.0, 3.0], precision=None)
        assert all(shapely.is_valid(b.geometry) for b in bands)
        _assert_partition(bands, 25.0, tol=1e-9)


def _decimals_ok(coords: np.ndarray, n: int) -> bool:
    scaled = coords * 10**n
    return bool(np.all(np.abs(scaled - np.round(scaled)) < 1e-6))


def test_precision_rounds_coordinates():
    x, y, z = _smooth_field()
    levels = np.arange(-6.0, 12.0, 1.5)
    coarse = contour_bands(x, y, z, levels, precision=2)
    coords = np.concatenate([shapely.get_coordinates(b.geometry) for b in coarse])
    assert _decimals_ok(coords, 2)
    assert all(shapely.is_valid(b.geometry) for b in coarse)
    lines = contour_lines(x, y, z, levels, precision=2)
    assert _decimals_ok(np.concatenate([shapely.get_coordinates(ln.geometry) for ln in lines]), 2)
    # without rounding the same field has finer coordinates (so the check above can fail)
    fine = contour_bands(x, y, z, levels, precision=None)
    fine_coords = np.concatenate([shapely.get_coordinates(b.geometry) for b in fine])
    assert not _decimals_ok(fine_coords, 2)


def test_simplification_reduces_vertices_and_stays_valid():
    x = y = np.linspace(-5.0, 5.0, 201)
    xx, yy = np.meshgrid(x, y)
    z = np.hypot(xx, yy) + 0.3 * np.sin(3 * xx)
    levels = [1.0, 2.0, 3.0, 4.0]
    full = contour_bands(x, y, z, levels)
    simple = contour_bands(x, y, z, levels, simplify_tolerance=0.05)
    n_full = sum(shapely.get_num_coordinates(b.geometry) for b in full)
    n_simple = sum(shapely.get_num_coordinates(b.geometry) for b in simple)
    assert n_simple < 0.5 * n_full
    assert all(shapely.is_valid(b.geometry) for b in simple)
    for a, b in zip(full, simple, strict=True):
        assert a.band_index == b.band_index
        # no boundary point moves by more than the tolerance
        assert abs(b.geometry.area - a.geometry.area) <= 0.05 * a.geometry.boundary.length
    lines = contour_lines(x, y, z, levels)
    simple_lines = contour_lines(x, y, z, levels, simplify_tolerance=0.05)
    assert sum(shapely.get_num_coordinates(ln.geometry) for ln in simple_lines) < sum(
        shapely.get_num_coordinates(ln.geometry) for ln in lines
    )


# --- the global grid ---------------------------------------------------------------------


def test_close_longitude():
    lon = np.arange(-180.0, 180.0, 90.0)
    values = np.arange(8.0).reshape(2, 4)
    new_lon, new_values = close_longitude(lon, values)
    np.testing.assert_array_equal(new_lon, [-180, -90, 0, 90, 180])
    np.testing.assert_array_equal(new_values[:, -1], values[:, 0])
    regional = np.array([0.0, 1.0, 2.0, 3.0])
    assert close_longitude(regional, values)[0] is regional


def test_global_field_closes_at_the_antimeridian():
    lat = np.linspace(-90.0, 90.0, 721)
    lon = np.arange(1440) * 0.25 - 180.0
    rlat, rlon = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    z = 30 * np.cos(rlat) + 10 * np.sin(3 * rlon) * np.cos(2 * rlat)
    levels = np.linspace(z.min() + 1.0, z.max() - 1.0, 12)
    bands = contour_bands(lon, lat, z, levels)
    assert len(bands) == 13
    assert all(shapely.is_valid(b.geometry) for b in bands)
    assert max(b.geometry.bounds[2] for b in bands) == 180.0
    assert min(b.geometry.bounds[0] for b in bands) == -180.0
    assert sum(b.geometry.area for b in bands) == pytest.approx(360.0 * 180.0, rel=1e-6)
    # no gap between the last column (179.75) and 180
    assert _union(bands).covers(Point(179.9, 10.0))


# --- isolines ----------------------------------------------------------------------------


def test_cone_isoline_is_a_circle():
    x = y = np.arange(-5.0, 5.0001, 0.25)
    xx, yy = np.meshgrid(x, y)
    z = np.hypot(xx, yy)
    lines = contour_lines(x, y, z, [3.0, 9.0])
    assert [ln.level for ln in lines] == [3.0]  # 9 is never reached: left out
    assert lines[0].level_index == 0
    geom = lines[0].geometry
    assert len(geom.geoms) == 1
    ring = geom.geoms[0]
    assert ring.is_closed
    r = np.hypot(*shapely.get_coordinates(ring).T)
    # linear interpolation along grid edges: error ~ h^2 / (8 r) = 0.0026 here
    np.testing.assert_allclose(r, 3.0, atol=0.01)
    assert shapely.Polygon(ring).area == pytest.approx(np.pi * 9.0, rel=0.01)


def test_isolines_are_band_boundaries():
    x, y, z = _smooth_field()
    levels = [0.0, 4.0]
    lines = {ln.level: ln.geometry for ln in contour_lines(x, y, z, levels, precision=None)}
    bands = _by_index(contour_bands(x, y, z, levels, precision=None))
    # every vertex of the 0-isoline lies on the boundary of band 0 (<= 0) and of band 1
    vertices = shapely.points(shapely.get_coordinates(lines[0.0]))
    assert len(vertices) > 20
    assert np.max(shapely.distance(vertices, bands[0].geometry.boundary)) < 1e-9
    assert np.max(shapely.distance(vertices, bands[1].geometry.boundary)) < 1e-9
    assert np.min(shapely.distance(vertices, bands[2].geometry)) > 0.01


# --- the reference users know: geojsoncontour --------------------------------------------


def _geojsoncontour_areas(x, y, z, levels) -> dict[int, float]:
    """Per-band planar area from matplotlib contourf + geojsoncontour, by band index."""
    geojsoncontour = pytest.importorskip("geojsoncontour")
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    cs = ax.contourf(x, y, z, levels=levels, extend="both")
    try:
        fc = json.loads(geojsoncontour.contourf_to_geojson(cs, ndigits=8))
    except AttributeError as exc:  # e.g. ContourSet.collections gone in matplotlib 3.10
        pytest.fail(f"geojsoncontour does not work with the installed matplotlib: {exc}")
    areas: dict[int, float] = {}
    for feat in fc["features"]:
        title = feat["properties"]["title"].strip()
        if title.startswith("<"):
            index = 0
        elif title.startswith(">"):
            index = len(levels)
        else:
            lower = float(re.match(r"(-?[\d.]+)-", title).group(1))
            index = int(np.flatnonzero(np.isclose(levels, lower))[0]) + 1
        geom = shapely.geometry.shape(feat["geometry"])
        if not geom.is_valid:  # its holes are guessed from ring orientation
            geom = shapely.make_valid(geom)
        areas[index] = geom.area
    return areas


def _compare_with_geojsoncontour(x, y, z, levels):
    ref = _geojsoncontour_areas(x, y, z, levels)
    ours = {b.band_index: b.geometry.area for b in contour_bands(x, y, z, levels, precision=None)}
    assert sorted(ours) == sorted(ref)
    assert len(ours) >= 5
    for i in ours:
        assert ours[i] == pytest.approx(ref[i], rel=1e-5, abs=1e-7), f"band {i}"


def test_band_areas_match_geojsoncontour_synthetic():
    x = np.linspace(0.0, 20.0, 81)
    y = np.linspace(40.0, 50.0, 41)
    xx, yy = np.meshgrid(x, y)
    z = np.sin(xx / 1.3) * np.cos((yy - 40) / 1.1) * 10 + 0.3 * xx  # many holes and islands
    _compare_with_geojsoncontour(x, y, z, np.arange(-8.0, 14.0, 3.0))


def test_band_areas_match_geojsoncontour_real_day(era5_file):
    day = date(2020, 7, 15)
    ds = load_day([era5_file("era5_france_2020-07_hourly_instant_t2m.nc")], day, ["t2m"])
    field = daily_field(ds, "t2m", day, "era5").data
    z = field.values
    levels = np.arange(np.ceil(np.nanmin(z)) + 1.0, np.nanmax(z), 2.0)
    _compare_with_geojsoncontour(field["longitude"].values, field["latitude"].values, z, levels)


def _raw_areas(x, y, z, levels) -> dict[int, float]:
    """Each band's planar area from raw contourpy polygons (shapely area, holes out)."""
    gen = contourpy.contour_generator(
        x, y, np.ma.masked_invalid(z), name="serial", corner_mask=True,
        fill_type=contourpy.FillType.OuterCode,
    )  # fmt: skip
    edges = [-np.inf, *levels, np.inf]
    out = {}
    for i, (lower, upper) in enumerate(itertools.pairwise(edges)):
        points, codes = gen.filled(lower, upper)
        area = 0.0
        for pts, code in zip(points, codes, strict=True):
            starts = [*np.flatnonzero(code == 1), len(pts)]
            rings = [pts[a:b] for a, b in itertools.pairwise(starts)]
            outer, holes = rings[0], rings[1:]
            area += shapely.Polygon(outer, holes).area
        if area:
            out[i] = area
    return out


def test_global_band_areas_equal_raw_contourpy_at_four_decimals():
    lat = np.linspace(-90.0, 90.0, 181)
    lon = np.arange(360) - 180.0
    rlat, rlon = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    rng = np.random.default_rng(11)
    z = 30 * np.cos(rlat) + 8 * np.sin(5 * rlon) * np.cos(3 * rlat) + rng.normal(0, 1.0, (181, 360))
    levels = np.arange(-10.0, 31.0, 4.0)
    bands = contour_bands(lon, lat, z, levels, precision=4)
    # The raw polygons on the grid closed at the antimeridian, as the library contours it.
    x, zc = close_longitude(lon, z)
    raw = _raw_areas(x, lat, zc, levels)
    assert sorted(b.band_index for b in bands) == sorted(raw)
    for b in bands:
        assert b.geometry.is_valid
        # Rounding moves a vertex by at most 0.5e-4 * sqrt(2) degrees, so an area by at
        # most that times the perimeter; the large bands agree to 1e-5 relative.
        bound = b.geometry.length * 0.5e-4 * np.sqrt(2)
        assert abs(b.geometry.area - raw[b.band_index]) <= bound, b.band_index
        if raw[b.band_index] > 1000.0:
            assert b.geometry.area == pytest.approx(raw[b.band_index], rel=1e-5)
    assert sum(len(b.geometry.geoms) for b in bands) > 200  # many small polygons


def test_rounding_never_leaves_invalid_bands_or_non_simple_lines():
    """Values at and next to the levels put vertices within a rounding step of grid points."""
    rng = np.random.default_rng(0)
    for trial in range(25):
        ny, nx = rng.integers(5, 25, 2)
        x = np.round(np.arange(nx) * 0.25 + rng.choice([0.0, -180.0]), 4)
        y = np.round(np.arange(ny) * 0.25 - 40.0, 4)
        z = rng.integers(-1, 4, (ny, nx)).astype(float)
        z += rng.choice([0.0, 1e-9, -1e-9, 1e-5, -1e-5, 3e-4], (ny, nx)) * rng.random((ny, nx))
        if trial % 3 == 0:
            z[rng.random((ny, nx)) < 0.1] = np.nan
        if not np.isfinite(z).any():
            continue
        for precision in (4, 1):
            for band in contour_bands(x, y, z, [0.0, 1.0, 2.0], precision=precision):
                assert band.geometry.is_valid, (trial, precision, band.band_index)
                for poly in band.geometry.geoms:
                    assert LinearRing(poly.exterior.coords).is_ccw
            for line in contour_lines(x, y, z, [0.0, 1.0, 2.0], precision=precision):
                assert shapely.is_simple(shapely.get_parts(line.geometry)).all()


def test_contour_field_is_bands_and_lines_from_one_generator():
    x, y, z = _smooth_field()
    levels = np.arange(-6.0, 12.0, 3.0)
    from era5_contours.science.contours import contour_field

    bands, lines = contour_field(x, y, z, levels)
    assert [(b.band_index, b.geometry.wkt) for b in bands] == [
        (b.band_index, b.geometry.wkt) for b in contour_bands(x, y, z, levels)
    ]
    assert [(ln.level, ln.geometry.wkt) for ln in lines] == [
        (ln.level, ln.geometry.wkt) for ln in contour_lines(x, y, z, levels)
    ]
    assert contour_field(x, y, z, levels, lines=False)[1] == []


def test_ring_touching_itself_around_an_inverted_hole_is_repaired_to_the_right_area():
    from era5_contours.science.contours import _clean_ragged

    # The shell pinches at (2, 4) around a triangle of area 2 that lies outside the
    # polygon (an "inverted hole"): the repair must cut it out, not fill it.
    ring = np.array([(0, 0), (4, 0), (4, 4), (2, 4), (3, 2), (1, 2), (2, 4), (0, 4), (0, 0)])
    assert not shapely.Polygon(ring).is_valid
    clean = _clean_ragged(ring.astype(float), np.array([0, 9]), np.array([0, 1]), 4)
    out = shapely.get_parts(clean.geometry)
    assert clean.changed == 1  # rebuilt by GEOS, and the site of it recorded
    np.testing.assert_array_equal(clean.sites, [[0.0, 0.0, 4.0, 4.0]])
    assert shapely.is_valid(out).all()
    assert shapely.area(out).sum() == pytest.approx(16.0 - 2.0, rel=1e-12)
    # The arrays kept for the writers are the rebuilt polygons' own coordinates.
    _, pts, (rings, polys) = shapely.to_ragged_array(out)
    for mine, theirs in zip(clean.arrays, (pts, rings, polys), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_band_repair_keeps_an_island_inside_a_hole_and_merges_parts_sharing_an_edge():
    from era5_contours.science.contours import _repair_band

    ring = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(2, 2), (8, 2), (8, 8), (2, 8)]])
    island = shapely.box(4, 4, 6, 6)  # the same band again, inside the ring's hole
    beside = shapely.box(10, 0, 12, 2)  # shares part of the ring's east edge
    band = shapely.MultiPolygon([ring, island, beside])
    assert not band.is_valid
    fixed = _repair_band(band, 4)
    assert fixed.is_valid and len(fixed.geoms) == 2
    assert fixed.area == pytest.approx(64.0 + 4.0 + 4.0, rel=1e-12)
    assert fixed.contains(shapely.Point(5, 5)) and not fixed.contains(shapely.Point(3, 3))


def test_simplified_isolines_stay_simple_where_douglas_peucker_would_fold_them():
    from era5_contours.science.contours import clean_lines

    # A random walk (found by search) that plain Douglas-Peucker at tolerance 1 folds
    # across itself; the topology-preserving simplifier must take over for it.
    walk = shapely.LineString(
        np.cumsum(np.random.default_rng(0).normal(size=(98, 30, 2))[97], axis=0)
    )
    assert walk.is_simple
    assert not shapely.simplify(walk, 1.0, preserve_topology=False).is_simple
    safe = shapely.simplify(walk, 1.0, preserve_topology=True)
    straight = shapely.LineString([(0, 0), (1, 0.001), (2, 0), (3, 0.001), (4, 0)])
    out = clean_lines(np.array([walk, straight]), precision=None, simplify_tolerance=1.0)
    parts = list(out.geoms)
    assert all(p.is_simple for p in parts)
    assert any(p.equals_exact(safe, 0.0) for p in parts)
    assert any(p.equals_exact(shapely.LineString([(0, 0), (4, 0)]), 0.0) for p in parts)


def test_kept_arrays_are_exactly_the_geometries_coordinates():
    """Writers read ``arrays`` instead of the geometry: they must never disagree."""
    from era5_contours.science.contours import contour_field, simplify_coverage

    rng = np.random.default_rng(5)
    ny, nx = 40, 60
    x, y = np.arange(nx) * 0.25, np.arange(ny) * 0.25
    # Integer steps with NaN holes (many polygons rebuilt) and a smooth field (none).
    z = rng.integers(-1, 4, (ny, nx)) + rng.choice([0.0, 1e-5, 3e-4], (ny, nx))
    z[rng.random((ny, nx)) < 0.05] = np.nan
    bands, lines = contour_field(x, y, z, [0.0, 1.0, 2.0], precision=4)
    sx, sy, sz = _smooth_field()
    levels = np.arange(-6.0, 12.0, 3.0)
    smooth_bands, smooth_lines = contour_field(sx, sy, sz, levels, precision=4)
    web_bands, web_lines = simplify_coverage(bands, lines, tolerance=0.05, precision=3)
    bands, lines = [*bands, *smooth_bands], [*lines, *smooth_lines]
    kept = 0
    for band in [*bands, *web_bands]:
        if band.arrays is None:
            continue
        kept += 1
        _, pts, (rings, polys) = shapely.to_ragged_array(shapely.get_parts(band.geometry))
        for mine, theirs in zip(band.arrays, (pts, rings, polys), strict=True):
            assert np.array_equal(mine, theirs)
    for line in [*lines, *web_lines]:
        if line.arrays is None:
            continue
        kept += 1
        _, pts, (offsets,) = shapely.to_ragged_array(shapely.get_parts(line.geometry))
        assert np.array_equal(line.arrays[0], pts) and np.array_equal(line.arrays[1], offsets)
    assert kept >= 8


def test_a_sliver_collapsed_by_rounding_leaves_its_neighbours_one_valid_polygon():
    # A ridge a hair above the level along the middle column: band 1 is a sliver 2e-5
    # wide that rounding to 4 decimals flattens onto x = 3, where the two halves of band 0
    # then share an edge; band 0 must come out dissolved into one valid polygon.
    z = np.zeros((7, 7))
    z[:, 3] = 1.00001
    bands = _by_index(contour_bands(X7, Y7, z, [1.0], precision=4))
    assert sorted(bands) == [0]
    low = bands[0].geometry
    assert low.is_valid and len(low.geoms) == 1
    assert low.area == pytest.approx(36.0)
    # A ridge wide enough to survive the rounding keeps band 0 in two parts.
    z[:, 3] = 1.1
    bands = _by_index(contour_bands(X7, Y7, z, [1.0], precision=4))
    assert sorted(bands) == [0, 1] and len(bands[0].geometry.geoms) == 2
    assert all(b.geometry.is_valid for b in bands.values())


def test_repaired_polygons_on_the_grid_skip_snap_rounding_and_stay_the_same_geometry():
    """make_valid's output on grid vertices is not snapped again: the geometry is the one
    snap rounding gives, its rings possibly starting at other vertices (normalize equal)."""
    from era5_contours.science import rings
    from era5_contours.science.contours import _generator, _make_valid, _on_grid, _ragged

    rng = np.random.default_rng(4)
    x = y = np.round(np.arange(40) * 0.1, 4)
    z = rng.integers(0, 4, (40, 40)).astype(float)  # values at the levels: saddles
    invalid = []
    gen = _generator(x, y, z)
    for lower, upper in [(-np.inf, 1.0), (1.0, 2.0), (2.0, np.inf)]:
        r = rings.round_rings(*_ragged(gen.filled(lower, upper)), 4)
        polys = shapely.from_ragged_array(shapely.GeometryType.POLYGON, r.pts, (r.rings, r.polys))
        invalid.extend(polys[~shapely.is_valid(polys)])
    assert len(invalid) >= 5  # the saddles are there
    fixed = _make_valid(np.array(invalid))
    kept = _on_grid(fixed, 4)
    assert all(a is b for a, b in zip(kept, fixed, strict=True))  # nothing to snap
    snapped = shapely.set_precision(fixed, 1e-4)
    assert shapely.equals_exact(shapely.normalize(kept), shapely.normalize(snapped), 0).all()
    # Off the grid (a crossing noded between grid points), a geometry is snapped.
    off = np.array([shapely.Polygon([(0, 0), (1.00004, 0), (1, 1)])])
    coords = shapely.get_coordinates(_on_grid(off, 4))
    np.testing.assert_array_equal(np.round(coords, 4), coords)

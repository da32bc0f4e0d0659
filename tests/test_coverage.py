"""The web file's coverage simplification (science/coverage.py) against GEOS's.

``shapely.coverage_simplify`` (GEOS's CoverageSimplifier, Visvalingam-Whyatt on the
coverage's shared edges) is the independent reference: the same vertices should go, the
bands should still tile, and no valid polygon may come out folded.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import GeometryType
from test_geojson import _noisy_field as _smooth_field  # fronts and noise, no NaN

from era5_contours.science.contours import band_arrays, contour_bands
from era5_contours.science.coverage import simplify_bands

#: numpy does the work (1.23 on Glue 4.0, 2.x on 5.1 and 6.0): the lanes run these.
pytestmark = pytest.mark.runtime


def _ridges_field():
    """Narrow ridges: isolines of neighbouring levels a fraction of a cell apart, where
    simplifying each chain alone would cross them; and NaN holes in the grid."""
    x = np.round(np.arange(0.0, 12.0, 0.25), 4)
    y = np.round(np.arange(30.0, 42.0, 0.25), 4)
    xx, yy = np.meshgrid(x, y)
    rng = np.random.default_rng(11)
    z = 3.0 * np.exp(-(((xx - 6 - 0.3 * np.sin(3 * yy)) / 0.2) ** 2)) + rng.normal(
        0, 0.05, xx.shape
    )
    z[rng.random(z.shape) < 0.03] = np.nan
    return x, y, z, np.array([0.5, 0.52, 0.54, 1.0, 2.0])


def _polygons(arrays):
    return [shapely.from_ragged_array(GeometryType.POLYGON, p, (r, q)) for p, r, q in arrays]


def _bands(make):
    x, y, z, levels = make()
    return contour_bands(x, y, z, levels)


@pytest.mark.parametrize("make", [_smooth_field, _ridges_field], ids=lambda f: f.__name__)
def test_it_removes_what_geos_removes_and_keeps_each_bands_area(make):
    bands = _bands(make)
    tolerance = 0.01
    ours = _polygons(simplify_bands([band_arrays(b) for b in bands], tolerance))
    geos = shapely.coverage_simplify([b.geometry for b in bands], tolerance)
    before = sum(shapely.get_num_coordinates(b.geometry) for b in bands)
    n_ours = sum(shapely.get_num_coordinates(p).sum() for p in ours)
    n_geos = int(shapely.get_num_coordinates(geos).sum())
    assert n_ours < 0.95 * before  # it does simplify
    assert n_ours == pytest.approx(n_geos, rel=0.02)
    for band, polys, reference in zip(bands, ours, geos, strict=True):
        full = band.geometry.area
        # Each band's area moves no more than GEOS moves it (plus a hair).
        assert (
            abs(shapely.area(polys).sum() - full) <= abs(reference.area - full) * 1.5 + 1e-9 * full
        )


@pytest.mark.parametrize("make", [_smooth_field, _ridges_field], ids=lambda f: f.__name__)
def test_the_bands_still_tile_and_nothing_valid_comes_out_folded(make):
    bands = _bands(make)
    arrays = [band_arrays(b) for b in bands]
    out = _polygons(simplify_bands(arrays, 0.02))
    before = _polygons(arrays)
    for old, new in zip(before, out, strict=True):
        assert len(old) == len(new)  # no polygon lost: rings keep three vertices
        assert shapely.is_valid(new[shapely.is_valid(old)]).all()
    parts = np.concatenate(out)
    a, b = shapely.STRtree(parts).query(parts)
    a, b = a[a < b], b[a < b]
    valid = shapely.is_valid(parts[a]) & shapely.is_valid(parts[b])
    assert not shapely.overlaps(parts[a][valid], parts[b][valid]).any()
    # Every vertex sits in one ring (the grid's edge) or two (a shared edge), as before.
    assert _most_rings_holding_a_vertex(out) <= max(2, _most_rings_holding_a_vertex(before))


def _most_rings_holding_a_vertex(polygons) -> int:
    rings = shapely.get_rings(np.concatenate(polygons))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    opened = np.append(ring[1:] == ring[:-1], False)  # each ring's closing vertex out
    _, held = np.unique(coords[opened], axis=0, return_counts=True)
    return int(held.max())


def test_without_missing_cells_the_coverage_keeps_the_grids_area():
    x, y, _, _ = _smooth_field()
    out = _polygons(simplify_bands([band_arrays(b) for b in _bands(_smooth_field)], 0.02))
    total = sum(shapely.area(p).sum() for p in out)
    assert total == pytest.approx((x[-1] - x[0]) * (y[-1] - y[0]), rel=1e-12)


def test_plain_visvalingam_whyatt_would_fold_the_ridges():
    """The fold check is needed: dropping vertices by area alone (no unfolding) breaks
    polygons of the ridges field that were valid."""
    from era5_contours.science import coverage

    bands = _bands(_ridges_field)
    arrays = [band_arrays(b) for b in bands]
    real = coverage._unfold
    try:
        coverage._unfold = lambda arrays, pts, ring_of, vid, kept: kept
        plain = _polygons(coverage.simplify_bands(arrays, 0.02))
    finally:
        coverage._unfold = real
    folded = sum(
        int((shapely.is_valid(old) & ~shapely.is_valid(new)).sum())
        for old, new in zip(_polygons(arrays), plain, strict=True)
    )
    assert folded >= 1


def test_no_tolerance_leaves_the_bands_as_they_are():
    arrays = [band_arrays(b) for b in _bands(_smooth_field)]
    assert simplify_bands(arrays, 0.0) is not arrays
    for (p, r, q), (p2, r2, q2) in zip(arrays, simplify_bands(arrays, 0.0), strict=True):
        assert p is p2 and r is r2 and q is q2


def test_vertices_are_told_apart_by_their_coordinates_alone():
    """Mirror images ((x, y) and (-x, -y), (y, x)) are other points; -0.0 is 0.0."""
    from era5_contours.science.coverage import _vertices

    rng = np.random.default_rng(5)
    base = np.round(rng.uniform(-180, 180, (2000, 2)), 2)
    grid = np.array([[0.0, 90.0], [-0.0, 90.0], [2.0, -90.0], [-2.0, 90.0], [90.0, -2.0]])
    pts = np.concatenate([base, -base, base[:, ::-1], base[:500], grid])
    pts = pts[rng.permutation(len(pts))]
    vertices, vid = _vertices(pts)
    assert np.array_equal(vertices[vid], pts + 0.0)
    expected = np.unique(pts + 0.0, axis=0)
    assert len(vertices) == len(expected)


def test_a_band_without_polygons_changes_nothing_around_it():
    arrays = [band_arrays(b) for b in _bands(_smooth_field)]
    empty = (np.empty((0, 2)), np.zeros(1, np.int64), np.zeros(1, np.int64))
    alone = simplify_bands(arrays, 0.02)
    mixed = simplify_bands([arrays[0], empty, *arrays[1:]], 0.02)
    assert len(mixed[1][0]) == 0
    for (p, r, q), (p2, r2, q2) in zip(alone, [mixed[0], *mixed[2:]], strict=True):
        assert np.array_equal(p, p2) and np.array_equal(r, r2) and np.array_equal(q, q2)
    assert all(len(p) == 0 for p, _, _ in simplify_bands([empty, empty], 0.02))

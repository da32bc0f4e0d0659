"""Rings as ragged arrays: rounding, degenerate rings, orientation, boxes.

Every answer is held against shapely's own (GEOS's robust predicates), ring by ring.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import LinearRing

from era5_contours.science import rings


def _ragged(polygons):
    _, pts, (ring_offsets, poly_offsets) = shapely.to_ragged_array(polygons)
    return pts, ring_offsets, poly_offsets


def _polygons(r: rings.Rounded):
    return shapely.from_ragged_array(shapely.GeometryType.POLYGON, r.pts, (r.rings, r.polys))


def test_flat_and_short_rings_are_dropped_with_their_holes():
    square = shapely.Polygon(
        [(0, 0), (1, 0), (1, 1), (0, 1)], [[(0.2, 0.2), (0.2, 0.4), (0.4, 0.4), (0.4, 0.2)]]
    )
    # Three distinct points on a diagonal once rounded to 3 decimals: in the decimal
    # floats GEOS sees a sliver of ~1e-17 square degrees, valid and of either orientation.
    flat = shapely.Polygon([(12.1841, 44.2841), (12.1852, 44.2849), (12.1863, 44.2861)])
    rounded = np.round(shapely.get_coordinates(flat), 3)
    assert len({tuple(p) for p in rounded.tolist()}) == 3
    assert shapely.is_valid(shapely.Polygon(rounded))  # the trap: GEOS accepts it
    assert 0 < shapely.Polygon(rounded).area < 1e-15
    shrunk = shapely.Polygon([(5, 5), (5.0001, 5), (5.0001, 5.0001)])  # one point at 3 decimals
    with_flat_hole = shapely.Polygon(
        [(2, 0), (3, 0), (3, 1), (2, 1)], [[(2.5001, 0.5), (2.5, 0.5004), (2.5002, 0.5)]]
    )
    r = rings.round_rings(*_ragged([square, flat, shrunk, with_flat_hole]), 3)
    out = _polygons(r)
    assert len(out) == 2 and r.collapsed == 3
    assert out[0].equals(square) and len(out[0].interiors) == 1
    assert out[1].equals(shapely.box(2, 0, 3, 1)) and len(out[1].interiors) == 0
    np.testing.assert_array_equal(r.dropped[0], [12.184, 44.284, 12.186, 44.286])


def test_rings_come_out_counter_clockwise_shells_and_clockwise_holes():
    rng = np.random.default_rng(1)
    polys = []
    for k in range(200):
        n = rng.integers(3, 12)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(0.001, 0.01)
        shell = np.c_[k + radius * np.cos(angles), 45 + radius * np.sin(angles)]
        hole = np.c_[k + 0.3 * radius * np.cos(angles), 45 + 0.3 * radius * np.sin(angles)]
        if rng.random() < 0.5:
            shell = shell[::-1]
        if rng.random() < 0.5:
            hole = hole[::-1]
        polys.append(shapely.Polygon(shell, [hole] if rng.random() < 0.5 else []))
    r = rings.round_rings(*_ragged(polys), 4)
    for poly in _polygons(r):
        assert LinearRing(poly.exterior.coords).is_ccw
        assert all(not LinearRing(h.coords).is_ccw for h in poly.interiors)
        assert poly.area >= 0.5e-8


def test_boxes_and_take_polygons():
    polys = [
        shapely.box(0, 0, 1, 2),
        shapely.Polygon([(5, 5), (9, 5), (9, 9)], [[(8, 6), (8.5, 6), (8.5, 6.5)]]),
        shapely.box(-3, -4, -1, -2),
    ]
    pts, ring_offsets, poly_offsets = _ragged(polys)
    np.testing.assert_array_equal(
        rings.polygon_boxes(pts, ring_offsets, poly_offsets), shapely.bounds(polys)
    )
    taken = rings.take_polygons(pts, ring_offsets, poly_offsets, np.array([False, True, True]))
    _, *expected = _ragged(polys[1:])
    np.testing.assert_array_equal(taken[0], _ragged(polys[1:])[0])
    np.testing.assert_array_equal(taken[1], expected[0])
    np.testing.assert_array_equal(taken[2], expected[1])


@pytest.mark.parametrize("precision", [3, 4, 5])
def test_lattice_is_exact_integers(precision):
    x = np.round(np.random.default_rng(4).uniform(-180, 180, (1000, 2)), precision)
    lattice = rings.lattice_of(x, precision)
    assert np.array_equal(lattice, np.round(lattice))
    np.testing.assert_array_equal(lattice / 10.0**precision, x)

"""Visvalingam-Whyatt simplification of contour bands as one coverage, in numpy.

The bands of a field tile its grid: the boundary between two neighbouring bands is one
isoline, and contourpy writes each of its vertices, bit for bit, into both bands' rings
(a global 0.25 degree tp day: 348,093 vertices shared by two rings, 4,360 on the grid's
edge in one, none in three). Simplifying each shared chain once and dropping a vertex
from every ring that holds it keeps the bands tiling: no gaps, no overlaps.

``shapely.coverage_simplify`` does this in GEOS for any coverage, and spends most of its
time finding the coverage's nodes in an ordered map of every vertex (0.6-0.9 s on that
day, twice the day's floor). Contour bands need no search: a vertex is free when every
ring that holds it has the same two neighbours there, otherwise it is a node and stays.

The vertices are removed in rounds, each taking every vertex whose triangle with its
current neighbours is below ``tolerance**2`` and smaller than both neighbours' (ties by
vertex number): a vertex's fate depends only on its chain, so the rings sharing it agree,
and no two neighbours go in one round, so each removal is measured as sequential
Visvalingam-Whyatt measures it. Rings keep three vertices. Unlike GEOS, removals are not
checked against crossing other chains: at a tenth of a grid cell a vertex moves by at
most a fiftieth of a cell, and the clean-up that follows (rounding, validity) repairs
the rare polygon that folds.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely import GeometryType

from .rings import offsets_of, run_of

PolygonArrays = tuple[np.ndarray, np.ndarray, np.ndarray]
#: Fewest distinct vertices a ring keeps.
MIN_RING = 3


def simplify_bands(arrays: list[PolygonArrays], tolerance: float) -> list[PolygonArrays]:
    """Each band's polygons simplified as parts of one coverage.

    Parameters
    ----------
    arrays
        The bands' polygons as ragged arrays ``(points, ring offsets, polygon offsets)``,
        rings closed (last vertex repeats the first), shared vertices bit-identical.
    tolerance
        Vertices whose triangle with their neighbours has less area than
        ``tolerance**2`` go (as ``shapely.coverage_simplify``'s tolerance).

    Returns
    -------
    list
        The same bands' arrays with fewer vertices, in the same order, rings closed.
    """
    if not arrays or tolerance <= 0:
        return list(arrays)
    open_pts, counts = _open_rings(arrays)
    if len(open_pts) == 0:
        return list(arrays)
    offsets = offsets_of(counts)
    ring_of = run_of(offsets)

    vertices, vid = _vertices(open_pts)
    free, nb1, nb2 = _chains(vid, ring_of, offsets, len(vertices))
    kept = _visvalingam(vertices, free, nb1, nb2, tolerance * tolerance,
                        _rings_holding(vid, ring_of, len(vertices)), counts)  # fmt: skip
    keep = _unfold(arrays, open_pts, ring_of, vid, kept)[vid]
    return _split(arrays, *_closed(open_pts[keep], ring_of[keep], len(counts)))


def _chains(
    vid: np.ndarray, ring_of: np.ndarray, offsets: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which of the ``n`` vertices are free, and each free vertex's two neighbours.

    A vertex is free when the rings holding it (at most two) agree on its neighbours,
    and they are two others: it lies inside a chain. The neighbours come ordered by
    number (``nb1 < nb2``), so the rings, which run a shared chain in opposite
    directions, measure the same triangle.
    """
    pos = np.arange(len(vid))
    start, size = offsets[ring_of], np.diff(offsets)[ring_of]
    prev_vid = vid[start + (pos - start - 1) % size]
    next_vid = vid[start + (pos - start + 1) % size]
    lo, hi = np.minimum(prev_vid, next_vid), np.maximum(prev_vid, next_vid)
    first = np.full(n, -1, dtype=np.int64)
    first[vid[::-1]] = pos[::-1]
    free = np.bincount(vid, minlength=n) <= 2
    free[vid[(lo != lo[first[vid]]) | (hi != hi[first[vid]])]] = False
    nb1, nb2 = lo[first], hi[first]
    own = np.arange(n)
    free &= (nb1 != own) & (nb2 != own) & (nb1 != nb2)
    return free, nb1.copy(), nb2.copy()


def _visvalingam(
    vertices: np.ndarray,
    free: np.ndarray,
    nb1: np.ndarray,
    nb2: np.ndarray,
    limit: float,
    rings_of_vid: tuple[np.ndarray, np.ndarray],
    counts: np.ndarray,
) -> np.ndarray:
    """Which vertices stay after removing, round by round, triangles below ``limit``."""
    n = len(vertices)
    kept = np.ones(n, dtype=bool)
    area = np.full(n, np.inf)
    todo = np.flatnonzero(free)
    area[todo] = _triangle(vertices, nb1[todo], todo, nb2[todo])
    ring_size = counts.copy()
    mark = np.zeros(n, dtype=bool)
    active = todo[area[todo] < limit]
    while active.size:
        a = area[active]
        # Strictly smaller than both neighbours (ties by vertex number): no two
        # neighbours go in one round.
        go = _less(a, active, area[nb1[active]], nb1[active])
        go &= _less(a, active, area[nb2[active]], nb2[active])
        cand = active[go]
        # Rings that would fall below MIN_RING keep what they have: their vertices
        # become nodes (in every ring that holds them, so the rings still agree).
        ring1, ring2 = rings_of_vid[0][cand], rings_of_vid[1][cand]
        removed = np.bincount(ring1, minlength=len(counts))
        removed += np.bincount(ring2[ring2 >= 0], minlength=len(counts))
        short = ring_size - removed < MIN_RING
        if short.any():
            one, two = rings_of_vid[0][active], rings_of_vid[1][active]
            freeze = active[short[one] | ((two >= 0) & short[np.maximum(two, 0)])]
            free[freeze] = False
            area[freeze] = np.inf
            active = active[free[active]]
            continue
        kept[cand] = False
        free[cand] = False
        area[cand] = np.inf
        ring_size -= removed
        left, right = nb1[cand], nb2[cand]
        _relink(nb1, nb2, left, cand, right, free)
        _relink(nb1, nb2, right, cand, left, free)
        # The neighbours get new triangles; the next round's candidates are those left
        # below the limit and the neighbours. Marked in a mask rather than sorted
        # (``np.unique`` each round was a sixth of the simplification).
        mark[left] = True
        mark[right] = True
        touched = np.flatnonzero(mark & free)
        mark[left] = False
        mark[right] = False
        area[touched] = _triangle(vertices, nb1[touched], touched, nb2[touched])
        mark[active[~go]] = True
        mark[touched] = True
        active = np.flatnonzero(mark)
        mark[active] = False
        active = active[area[active] < limit]

    return kept


def _unfold(
    arrays: list[PolygonArrays],
    pts: np.ndarray,
    ring_of: np.ndarray,
    vid: np.ndarray,
    kept: np.ndarray,
) -> np.ndarray:
    """``kept`` with the vertices of every ring of a polygon that simplification folded.

    A polygon valid before and not after had two of its chains cross (two isolines a
    fraction of a cell apart): its rings get all their vertices back, and so do the
    rings that share them, which are checked in turn.
    """
    # Each ring's polygon, numbered across the bands.
    n_polys = np.array([len(polys) - 1 for _, _, polys in arrays], dtype=np.int64)
    first_poly = offsets_of(n_polys)[:-1]
    polygons = np.concatenate(
        [run_of(polys) + k for (_, _, polys), k in zip(arrays, first_poly, strict=True)]
    )
    poly_offsets = offsets_of(np.bincount(polygons, minlength=int(n_polys.sum())))
    originals: np.ndarray | None = None
    # Only polygons that lost vertices can have folded.
    check = np.zeros(len(poly_offsets) - 1, dtype=bool)
    check[polygons[ring_of[~kept[vid]]]] = True
    while check.any():
        keep = kept[vid]
        closed, rings = _closed(pts[keep], ring_of[keep], len(polygons))
        shapes = shapely.from_ragged_array(GeometryType.POLYGON, closed, (rings, poly_offsets))
        suspect = np.flatnonzero(check)
        suspect = suspect[~shapely.is_simple(shapely.boundary(shapes[suspect]))]
        bad = suspect[~shapely.is_valid(shapes[suspect])]
        if bad.size:
            if originals is None:
                closed, rings = _closed(pts, ring_of, len(polygons))
                originals = shapely.from_ragged_array(
                    GeometryType.POLYGON, closed, (rings, poly_offsets)
                )
            bad = bad[shapely.is_valid(originals[bad])]
        restore = np.zeros(len(polygons), dtype=bool)
        restore[np.isin(polygons, bad)] = True
        back = np.unique(vid[restore[ring_of]])
        back = back[~kept[back]]
        kept[back] = True
        check[:] = False
        returned = np.zeros(len(kept), dtype=bool)
        returned[back] = True
        check[polygons[ring_of[returned[vid]]]] = True
    return kept


def _open_rings(arrays: list[PolygonArrays]) -> tuple[np.ndarray, np.ndarray]:
    """Every band's ring vertices without the closing ones, and each ring's count."""
    starts = offsets_of(np.array([len(p) for p, _, _ in arrays]))[:-1]
    ends = np.concatenate([r[1:] + k for (_, r, _), k in zip(arrays, starts, strict=True)])
    pts = np.concatenate([p for p, _, _ in arrays])
    closing = np.zeros(len(pts), dtype=bool)
    closing[ends - 1] = True
    return pts[~closing], np.diff(np.concatenate([[0], ends])) - 1


def _closed(pts: np.ndarray, ring_of: np.ndarray, n_rings: int) -> tuple[np.ndarray, np.ndarray]:
    """Closed rings (points, ring offsets) from open rings' points and their ring numbers.

    Each ring is closed by repeating its first vertex.
    """
    counts = np.bincount(ring_of, minlength=n_rings)
    offsets = offsets_of(counts + 1)
    closed = np.empty((offsets[-1], 2))
    closed[np.arange(len(pts)) + ring_of] = pts
    closed[offsets[1:] - 1] = pts[offsets_of(counts)[:-1]]
    return closed, offsets


def _split(
    arrays: list[PolygonArrays], pts: np.ndarray, offsets: np.ndarray
) -> list[PolygonArrays]:
    """All bands' closed rings split into each band's ragged arrays again."""
    out: list[PolygonArrays] = []
    first_ring = 0
    for _, rings, polys in arrays:
        last_ring = first_ring + len(rings) - 1
        ring_offsets = offsets[first_ring : last_ring + 1]
        out.append((pts[ring_offsets[0] : ring_offsets[-1]], ring_offsets - ring_offsets[0], polys))
        first_ring = last_ring
    return out


def _vertices(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct points, and each point's number among them.

    Points are sorted by a 64-bit mix of their coordinates' bits (``np.unique(axis=0)``
    sorts rows as raw bytes, six times slower); equal keys are checked to be equal
    points, and ``lexsort`` on the two columns takes over should two points share a key.
    """
    pts = np.ascontiguousarray(pts + 0.0)  # -0.0 and 0.0 are one point
    bits = pts.view(np.uint64)
    # A multiply-xorshift mix: a plain sum of the two words would give (x, y) and
    # (-x, -y) one key (their sign bits cancel), and grids are symmetric.
    key = bits[:, 0] * np.uint64(0x9E3779B97F4A7C15)
    key ^= key >> np.uint64(31)
    key = (key + bits[:, 1]) * np.uint64(0xBF58476D1CE4E5B9)
    key ^= key >> np.uint64(29)
    order = np.argsort(key)
    x, y = pts[:, 0][order], pts[:, 1][order]
    same_point = (x[1:] == x[:-1]) & (y[1:] == y[:-1])
    ordered_key = key[order]
    if ((ordered_key[1:] == ordered_key[:-1]) & ~same_point).any():
        # Two points share a key: sort the points themselves.
        order = np.lexsort((pts[:, 1], pts[:, 0]))
        x, y = pts[:, 0][order], pts[:, 1][order]
        same_point = (x[1:] == x[:-1]) & (y[1:] == y[:-1])
    new = np.ones(len(pts), dtype=bool)
    new[1:] = ~same_point
    vid = np.empty(len(pts), dtype=np.int64)
    vid[order] = np.cumsum(new) - 1
    return np.column_stack([x[new], y[new]]), vid


def _rings_holding(vid: np.ndarray, ring_of: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For each vertex, the (up to two) rings that hold it; -1 where only one does."""
    one = np.full(n, -1, dtype=np.int64)
    two = np.full(n, -1, dtype=np.int64)
    order = np.arange(len(vid))
    one[vid[::-1]] = ring_of[order[::-1]]
    two[vid] = ring_of[order]  # the last occurrence's ring
    two[two == one] = -1
    return one, two


def _triangle(v: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Areas of the triangles ``(a, b, c)`` given by vertex numbers."""
    xa, ya = v[a, 0], v[a, 1]
    xb, yb = v[b, 0], v[b, 1]
    xc, yc = v[c, 0], v[c, 1]
    area: np.ndarray = 0.5 * np.abs((xb - xa) * (yc - ya) - (xc - xa) * (yb - ya))
    return area


def _less(a: np.ndarray, i: np.ndarray, b: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``(a, i) < (b, j)`` elementwise, lexicographically."""
    less: np.ndarray = (a < b) | ((a == b) & (i < j))
    return less


def _relink(
    nb1: np.ndarray,
    nb2: np.ndarray,
    at: np.ndarray,
    gone: np.ndarray,
    other: np.ndarray,
    free: np.ndarray,
) -> None:
    """At the free vertices ``at``, the neighbour ``gone`` becomes ``other``."""
    live = free[at]
    at, gone, other = at[live], gone[live], other[live]
    first = nb1[at] == gone
    nb1[at[first]] = other[first]
    nb2[at[~first]] = other[~first]
    # Keep each pair ordered, as the triangle's area is computed from the ordered pair.
    swap = nb1[at] > nb2[at]
    s = at[swap]
    nb1[s], nb2[s] = nb2[s], nb1[s].copy()

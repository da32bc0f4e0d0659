"""Polygon rings and lines as ragged arrays, cleaned and checked in numpy.

Contour polygons come as shapely's ragged arrays ``(points, ring offsets, polygon
offsets)``; a day's drizzle makes thousands of small polygons, and a GEOS call per
polygon (a geometry, its boundary, a simplicity check) costs more than contourpy took to
trace them. This module does the per-ring work for all rings at once:

- rounding to ``precision`` decimals, dropping repeated vertices, rings with fewer than
  three distinct vertices and rings whose vertices all lie on one line (no area at that
  precision), orienting shells counter-clockwise and holes clockwise (RFC 7946);
- proving small rings and lines simple, so that GEOS checks only the others;
- bounding boxes, and taking a subset of polygons.

Rounded coordinates lie on a lattice of step ``10**-precision``. On it the area and
orientation tests are exact: lattice coordinates are integers (held in float64, exact below
2**53), and the products of two differences within a ring stay below 2**53 up to
:data:`EXACT_PRECISION` decimals on any ring of the globe. A polygon whose vertices all
lie on the lattice has an area of at least half a lattice cell (Pick's theorem) unless it
has none: that is the resolution at which a ring's area vanishes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The most decimals at which the lattice arithmetic is exact everywhere: 360 degrees are
#: 3.6e7 steps at 5 decimals, and the product of two such differences (1.3e15) is below
#: 2**53. At more decimals (or none) areas and orientations are taken in floating point.
EXACT_PRECISION = 5
#: The longest ring (distinct vertices) or line (segments) that :func:`simple_rings` and
#: :func:`simple_lines` prove simple in numpy; longer ones are left to GEOS. The pairs of
#: segments to test grow as the square of the length.
SMALL = 24


@dataclass(frozen=True)
class Rounded:
    """Rings after :func:`round_rings`.

    ``lattice`` holds the points' lattice coordinates (integers in float64) when the
    arithmetic is exact (``precision <= EXACT_PRECISION``), else None. ``dropped`` holds
    the bounding boxes ``(xmin, ymin, xmax, ymax)`` of the rings that were dropped, for the
    checks of what their disappearance may have changed around them.
    """

    pts: np.ndarray
    rings: np.ndarray
    polys: np.ndarray
    lattice: np.ndarray | None
    dropped: np.ndarray

    @property
    def collapsed(self) -> int:
        """How many rings were dropped (a shell's holes included)."""
        return len(self.dropped)


def offsets_of(counts: np.ndarray) -> np.ndarray:
    """Offsets (``[0, c0, c0 + c1, ...]``, int64) of consecutive runs of ``counts`` items."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def run_of(offsets: np.ndarray) -> np.ndarray:
    """For each item, the index of the run holding it (runs given by their offsets)."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def boxes(pts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``(xmin, ymin, xmax, ymax)`` of each run of points (runs must not be empty)."""
    if len(offsets) < 2:
        return np.empty((0, 4))
    starts = offsets[:-1]
    lo = np.minimum.reduceat(pts, starts, axis=0)
    hi = np.maximum.reduceat(pts, starts, axis=0)
    return np.concatenate([lo, hi], axis=1)


def polygon_boxes(pts: np.ndarray, rings: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Bounding box of each polygon: the same numbers as GEOS's envelope."""
    return boxes(pts, rings[polys])


def take_polygons(
    pts: np.ndarray, rings: np.ndarray, polys: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The polygons where ``keep`` (one bool per polygon) is true, as ragged arrays."""
    ring_keep = np.repeat(keep, np.diff(polys))
    pt_keep = np.repeat(ring_keep, np.diff(rings))
    return (
        pts[pt_keep],
        offsets_of(np.diff(rings)[ring_keep]),
        offsets_of(np.diff(polys)[keep]),
    )


def lattice_of(pts: np.ndarray, precision: int | None) -> np.ndarray | None:
    """Lattice coordinates of points rounded to ``precision`` (None if not exact)."""
    if precision is None or precision > EXACT_PRECISION:
        return None
    lattice: np.ndarray = np.rint(pts * 10.0**precision)
    return lattice


def repeated(x: np.ndarray, y: np.ndarray, run: np.ndarray) -> np.ndarray:
    """True where a point equals the previous one of its run."""
    same = np.zeros(len(x), dtype=bool)
    same[1:] = (x[1:] == x[:-1]) & (y[1:] == y[:-1]) & (run[1:] == run[:-1])
    return same


def _shoelace(d: np.ndarray, rings: np.ndarray) -> np.ndarray:
    """Twice the signed area of each ring, points ``d`` relative to their ring's first."""
    x, y = d[:, 0], d[:, 1]
    cross = np.zeros(len(d))
    cross[:-1] = x[:-1] * y[1:] - x[1:] * y[:-1]
    cross[rings[1:] - 1] = 0.0  # no edge from a ring's last vertex to the next ring
    area2: np.ndarray = np.add.reduceat(cross, rings[:-1])
    return area2


def _relative(pts: np.ndarray, rings: np.ndarray, ring_of: np.ndarray) -> np.ndarray:
    """Each point minus its ring's first point: small numbers, so products stay exact."""
    d: np.ndarray = pts - pts[rings[:-1]][ring_of]
    return d


def _flat(d: np.ndarray, rings: np.ndarray, ring_of: np.ndarray) -> np.ndarray:
    """True for rings whose points all lie on one line (``d`` as :func:`_relative`'s)."""
    # The second point differs from the first (repeats are gone): the line's direction.
    second = np.minimum(rings[:-1] + 1, len(d) - 1)
    u = d[second][ring_of]
    off_line = (d[:, 0] * u[:, 1] - d[:, 1] * u[:, 0]) != 0.0
    flat: np.ndarray = np.bincount(ring_of[off_line], minlength=len(rings) - 1) == 0
    return flat


def round_rings(
    pts: np.ndarray, rings: np.ndarray, polys: np.ndarray, precision: int | None
) -> Rounded:
    """Round vertices; drop repeated ones and degenerate rings; orient rings (numpy only).

    A ring is dropped when fewer than three distinct vertices remain, or when on the
    lattice all its vertices lie on one line: rounding flattened it, and it has no area at
    this precision (GEOS may still see a sliver of 1e-17 in the decimal floats, and give it
    either orientation). A dropped shell takes its holes with it. Shells come out
    counter-clockwise and holes clockwise (RFC 7946), by the sign of the exact lattice
    area where it is exact.
    """
    if precision is not None:
        pts = np.round(pts, precision)
    n_rings = len(rings) - 1
    ring_of = run_of(rings)
    same = repeated(pts[:, 0], pts[:, 1], ring_of)
    if same.any():
        pts, ring_of = pts[~same], ring_of[~same]
    counts = np.bincount(ring_of, minlength=n_rings)
    rings = offsets_of(counts)
    lattice = lattice_of(pts, precision)
    # A closed ring needs 3 distinct vertices plus the closing one.
    alive = counts >= 4
    if lattice is not None and len(pts):
        alive &= ~_flat(_relative(lattice, rings, ring_of), rings, ring_of)
    outer = np.zeros(n_rings, dtype=bool)
    outer[polys[:-1]] = True
    poly_of_ring = run_of(polys)
    keep_ring = alive & alive[polys[:-1]][poly_of_ring]
    dropped = boxes(pts, rings)[~keep_ring] if not keep_ring.all() else np.empty((0, 4))
    if not keep_ring.all():
        keep_pt = keep_ring[ring_of]
        pts, ring_of = pts[keep_pt], ring_of[keep_pt]
        if lattice is not None:
            lattice = lattice[keep_pt]
        ring_of = (np.cumsum(keep_ring) - 1)[ring_of]
        outer, counts = outer[keep_ring], counts[keep_ring]
        rings = offsets_of(counts)
    polys = np.append(np.flatnonzero(outer), len(counts)).astype(np.int64)
    if len(counts):
        exact = lattice if lattice is not None else pts
        area2 = _shoelace(_relative(exact, rings, ring_of), rings)
        wrong = np.where(outer, area2 < 0, area2 > 0)
        if wrong.any():
            index = _reversed_index(rings, ring_of, wrong)
            pts = pts[index]
            lattice = lattice[index] if lattice is not None else None
    return Rounded(pts, rings, polys, lattice, dropped)


def _reversed_index(rings: np.ndarray, ring_of: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """Point order with the rings where ``flip`` reversed (first point kept first)."""
    index = np.arange(len(ring_of))
    on = flip[ring_of]
    start, end = rings[:-1][ring_of], rings[1:][ring_of] - 1
    index[on] = (start + end - index)[on]
    return index


# --------------------------------------------------------------------------- simplicity


def _orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Sign of the turn a -> b -> c (lattice coordinates: exact)."""
    turn: np.ndarray = np.sign((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1])
                               - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0]))  # fmt: skip
    return turn


def _within(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """True where ``c`` lies in the bounding box of segment a-b (for collinear points)."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    within: np.ndarray = ((c >= lo) & (c <= hi)).all(axis=-1)
    return within


def _touch(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """True where closed segments a-b and c-d share a point (exact on the lattice)."""
    o1, o2 = _orient(a, b, c), _orient(a, b, d)
    o3, o4 = _orient(c, d, a), _orient(c, d, b)
    cross: np.ndarray = (o1 * o2 < 0) & (o3 * o4 < 0)
    cross |= (o1 == 0) & _within(a, b, c)
    cross |= (o2 == 0) & _within(a, b, d)
    cross |= (o3 == 0) & _within(c, d, a)
    cross |= (o4 == 0) & _within(c, d, b)
    return cross


def _pairs(n_segments: int, closed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment pairs of a ring or line of ``n_segments``: apart ``(i, j)``, and adjacent ``k``.

    Apart pairs share no vertex and must not touch; adjacent ones (``k`` and ``k + 1``, and
    in a ring the last and the first) share one vertex and must not fold back on it.
    """
    i, j = np.triu_indices(n_segments, k=2)
    if closed:
        apart = ~((i == 0) & (j == n_segments - 1))
        i, j = i[apart], j[apart]
    adjacent = np.arange(n_segments if closed else n_segments - 1)
    return i, j, adjacent


def _simple_runs(
    lattice: np.ndarray, offsets: np.ndarray, runs: np.ndarray, closed: bool
) -> np.ndarray:
    """True for the runs (rings or lines, all of one length) proven simple."""
    n_pts = int(offsets[runs[0] + 1] - offsets[runs[0]])
    n_seg = n_pts - 1
    # (runs, points, 2): every run's points side by side.
    p = lattice[offsets[runs][:, None] + np.arange(n_pts)[None, :]]
    i, j, k = _pairs(n_seg, closed)
    ok = np.asarray(~_touch(p[:, i], p[:, i + 1], p[:, j], p[:, j + 1]).any(axis=1))
    # Adjacent segments a-b, b-c fold back when collinear and c turns back towards a.
    nxt = (k + 1) % n_seg
    a, b, c = p[:, k], p[:, k + 1], p[:, nxt + 1]
    straight = _orient(a, b, c) == 0
    back = ((b - a) * (c - b)).sum(axis=-1) < 0
    ok &= ~(straight & back).any(axis=1)
    return ok


def simple_rings(lattice: np.ndarray | None, rings: np.ndarray, single: np.ndarray) -> np.ndarray:
    """True for the rings proven simple on the lattice (False: not proven, ask GEOS).

    Only rings flagged in ``single`` (e.g. polygons without holes) of at most
    :data:`SMALL` distinct vertices are tested: every pair of segments that share no vertex
    must not touch, and no two consecutive segments may fold back. Lattice arithmetic
    makes the answer exact, and a ring kept apart from itself by at least a lattice step
    is apart in the decimal floats too (their error is 1e-14 of a degree).
    """
    return _simple(lattice, rings, single, closed=True)


def simple_lines(lattice: np.ndarray | None, offsets: np.ndarray) -> np.ndarray:
    """True for the lines proven simple on the lattice (as :func:`simple_rings`).

    A closed line (first point equal to the last) is tested as a ring.
    """
    closed = np.zeros(len(offsets) - 1, dtype=bool)
    if lattice is not None and len(offsets) > 1:
        first, last = lattice[offsets[:-1]], lattice[offsets[1:] - 1]
        closed = (first == last).all(axis=1)
    simple = _simple(lattice, offsets, closed, closed=True)
    simple |= _simple(lattice, offsets, ~closed, closed=False)
    return simple


def _simple(
    lattice: np.ndarray | None, offsets: np.ndarray, which: np.ndarray, *, closed: bool
) -> np.ndarray:
    """:func:`simple_rings` or :func:`simple_lines` for the runs in ``which``."""
    n = np.diff(offsets)
    proven = np.zeros(len(n), dtype=bool)
    if lattice is None:
        return proven
    # A ring of n points has n - 1 segments, as many distinct vertices; a line needs 2.
    least = 4 if closed else 2
    small = which & (n >= least) & (n - 1 <= SMALL)
    for length in np.unique(n[small]).tolist():
        runs = np.flatnonzero(small & (n == length))
        proven[runs] = _simple_runs(lattice, offsets, runs, closed)
    return proven
